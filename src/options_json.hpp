// deltacodec — the `options` object of the .dcx HEADER and the --report JSON,
// generated from the option table (include/deltacodec/options.hpp).
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "deltacodec/options.hpp"

namespace deltacodec {

/// Every recorded row of the option table, by its JSON key (numbers for INT rows,
/// strings otherwise; a row that does not apply to the method records its
/// `inapplicable_json`). header_to_bytes writes it as given: keys sorted.
nlohmann::json options_json(const CompressOptions& o);
/// The same over any table (tests add rows to option_table()'s copy).
nlohmann::json options_json(const CompressOptions& o, const std::vector<OptionRow>& table);

}  // namespace deltacodec
