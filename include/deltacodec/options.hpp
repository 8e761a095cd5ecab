// deltacodec — the compress option table: one row per option, read by the CLI
// (its flags and --help), the Python module (its keywords and docstring), the
// .dcx HEADER / --report `options` object and describe(). A new option is one row
// in option_table() (src/options.cpp); see docs/ARCHITECTURE.md.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "deltacodec/error.hpp"

namespace deltacodec {

struct CompressOptions;

enum class OptionKind : unsigned char {
    TEXT,    ///< a string (a closed set when `choices` is not empty)
    INT,     ///< an integer; recorded as a JSON number
    NUMBER,  ///< a real number (`--bpp 0.5`); recorded as a JSON number, a Python float (or int)
    FLAG,    ///< on/off: a CLI flag without a value, a Python bool
};

/// How describe() shows a row.
enum class OptionShow : unsigned char {
    NEVER,       ///< not shown
    ALWAYS,      ///< always (when it applies to the method)
    NONDEFAULT,  ///< when its value is not the default
};

struct OptionRow {
    std::string_view cli;      ///< CLI names as CLI11 takes them: "--method", "-T,--threads"
    std::string_view flag;     ///< the long CLI name, used in messages: "--threads"
    std::string_view keyword;  ///< Python keyword: "quant_table"
    std::string_view json;     ///< key in the HEADER / report `options`; empty: a run setting, not recorded
    OptionKind kind;
    std::string_view value_name;  ///< CLI --help: "SPEC", "P", "RE", "N"
    std::string_view help;
    std::vector<std::string> choices;  ///< TEXT rows with a closed set; empty otherwise
    /// Where the option has effect, for --help and errors ("--method dwt"); empty: everywhere.
    std::string_view only;
    /// The registry name of the method this option configures ("patch" for the patch
    /// coder's options; several joined by '|': "lowrank|svdmix"); empty: every method. When the options choose another
    /// method
    /// (`--method bitdelta`), the row does not apply: a value given for it is
    /// refused (unless it is the row's default, which changes nothing), and it is
    /// neither recorded nor shown.
    std::string_view method;
    /// False when a value given for this row is refused with the chosen method
    /// ("--bands applies to --method dwt only"); nullptr: always accepted.
    bool (*applies)(const CompressOptions&) = nullptr;
    /// Recorded instead of get() when `applies` is false (bands: "all" for dct).
    std::string_view inapplicable_json;
    OptionShow show = OptionShow::NEVER;
    std::string_view show_label;  ///< describe(): "p=" before the value; empty: the value alone
    /// Parses and validates `text` (a FLAG takes "true"/"false") into o; throws
    /// Error(PROBLEM), the phrase that follows the option and its value in the
    /// message set_options() words ("is not one of dct, dwt").
    std::function<void(CompressOptions& o, std::string_view text)> set;
    /// The value in o as text (the form set() takes).
    std::function<std::string(const CompressOptions& o)> get;
    /// Recorded at its default value too. Every row that existed when .dcx v1 was
    /// made is; a row added later sets false, so files made without the option
    /// keep their HEADER bytes (tests/test_golden.cpp).
    bool record_default = true;

    /// get() of a default-constructed CompressOptions.
    std::string default_text() const;
    /// Whether the row has effect with `o`'s method and settings (`method`, `applies`).
    bool applies_to(const CompressOptions& o) const;
    bool recorded() const { return !json.empty(); }
};

/// Every compress option that both the CLI and the Python module take, in --help order.
const std::vector<OptionRow>& option_table();
const OptionRow* find_option_by_keyword(std::string_view keyword);

/// Sets the given (row, text) values on o, each through its row's set(); then
/// refuses a given value whose row does not apply to the chosen method. Throws
/// option_error() or inapplicable_error() on the first bad value or combination.
void set_options(CompressOptions& o, const std::vector<std::pair<const OptionRow*, std::string>>& given);

/// The Error (kind OPTION) for a bad value of `row`, worded for the CLI (what():
/// "--patch '12' is not a multiple of 8 between 8 and 256") and for the API
/// (api_message(): "patch=12 is not a multiple of 8 between 8 and 256").
Error option_error(const OptionRow& row, std::string_view value, const std::string& problem);
/// The Error (kind OPTION) for a value of `row` given where it does not apply:
/// "--bands all applies to --method dwt only" / "bands='all' applies to method='dwt' only".
Error inapplicable_error(const OptionRow& row, std::string_view value);

}  // namespace deltacodec
