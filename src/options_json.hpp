// deltacodec — the `options` object of the .dcx HEADER and the --report JSON,
// generated from the option table (include/deltacodec/options.hpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "deltacodec/options.hpp"

namespace deltacodec {

/// Every recorded row of the option table, by its JSON key (numbers for INT rows,
/// strings otherwise; a row that does not apply to the method records its
/// `inapplicable_json`). header_to_bytes writes it as given: keys sorted.
nlohmann::json options_json(const CompressOptions& o);
/// The same over any table (tests add rows to option_table()'s copy).
nlohmann::json options_json(const CompressOptions& o, const std::vector<OptionRow>& table);

/// The options as the CLI's flags, the rows describe() shows, in table order:
/// "--method dwt --patch 64 --bits 2:0.5,0:0.5 --bands ll_lh_hl" (values quoted
/// for a POSIX shell where needed, control characters escaped by printable()).
std::string cli_flags(const CompressOptions& o);
/// The rate targets' ranges (`--bpp`, `--ratio`; 0 = none).
inline constexpr double kMinTargetBpp = 0.001, kMaxTargetBpp = 64;
inline constexpr double kMinTargetRatio = 0.25, kMaxTargetRatio = 100000;
/// Refuses a rate target out of range, both targets at once, or `--bits` other
/// than the default with a target (rate control chooses the bits); Error of kind
/// OPTION worded for the CLI and the API. set_options() and compress() call it.
void check_rate_target(const CompressOptions& o);
/// Refuses a level count that the chosen transform cannot take at the chosen
/// patch size (--levels with --patch; the pair is checked once both are set).
void check_levels(const CompressOptions& o);
/// `v` as the shortest decimal text that reads back as `v` ("0.5", "2", "1e-05").
std::string number_text(double v);
/// `v` as one word of a POSIX shell: as it is when it holds only safe characters,
/// else in single quotes.
std::string shell_word(std::string_view v);

}  // namespace deltacodec
