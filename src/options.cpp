// deltacodec — the compress option table (include/deltacodec/options.hpp) and
// what is generated from it: the recorded `options` object and describe().
#include "deltacodec/options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <regex>

#include "codec/codec.hpp"
#include "deltacodec/deltacodec.hpp"
#include "io/text.hpp"
#include "options_json.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {

std::string quoted(std::string_view v) { return "'" + std::string(v) + "'"; }

// A TEXT row's value must be one of its choices.
void check_choice(std::string_view flag, const std::vector<std::string>& choices, std::string_view v) {
    for (const std::string& c : choices)
        if (v == c) return;
    std::string list;
    for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
    throw Error(std::string(flag) + " " + quoted(v) + " is not one of " + list);
}

// A whole decimal integer in [lo, hi].
long long parse_int(std::string_view flag, std::string_view v, long long lo, long long hi) {
    long long x = 0;
    const char* end = v.data() + v.size();
    const char* begin =
        v.data() + (v.size() > 1 && v[0] == '+' && v[1] >= '0' && v[1] <= '9');  // "+16", as CLI11's numbers took
    const auto r = std::from_chars(begin, end, x);
    if (v.empty() || r.ec == std::errc::invalid_argument || r.ptr != end)
        throw Error(std::string(flag) + " " + quoted(v) + " is not a whole number");
    if (r.ec == std::errc::result_out_of_range || x < lo || x > hi)
        throw Error(std::string(flag) + " " + quoted(v) + " is out of range " + std::to_string(lo) + ".." +
                    std::to_string(hi));
    return x;
}

bool parse_flag(std::string_view flag, std::string_view v) {
    if (v == "true") return true;
    if (v == "false") return false;
    throw Error(std::string(flag) + " " + quoted(v) + " is not true or false");
}

std::vector<std::string> method_names() {
    std::vector<std::string> v;
    for (const TransformEntry& t : transform_table()) v.emplace_back(t.name);
    return v;
}

bool has_bands(const CompressOptions& o) { return find_transform(o.codec.transform)->has_bands; }

// A bad regular expression is a bad option value (exit 2 in the CLI), found before any work.
// (The pattern comes from the caller, not from a file.)
void check_regex(std::string_view flag, std::string_view v) {
    try {
        std::regex(std::string(v), std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error&) {
        throw Error(std::string(flag) + " " + quoted(v) + " is not a valid regular expression");
    }
}

std::vector<OptionRow> build_table() {
    std::vector<OptionRow> t;
    // Each row: names, kind, help, choices, where it applies, describe(), set, get.
    t.push_back({"--method", "--method", "method", "method", OptionKind::TEXT, "NAME",
                 "transform: dct, or dwt (one-level Haar)", method_names(), "", nullptr, "", OptionShow::ALWAYS, "",
                 [](CompressOptions& o, std::string_view v) {
                     check_choice("--method", method_names(), v);
                     o.codec.transform = find_transform(v)->id;
                 },
                 [](const CompressOptions& o) { return std::string(find_transform(o.codec.transform)->name); }});
    t.push_back({"--patch",
                 "--patch",
                 "patch",
                 "patch",
                 OptionKind::INT,
                 "P",
                 "patch size p (a multiple of 8, 8..256)",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::ALWAYS,
                 "p=",
                 [](CompressOptions& o, std::string_view v) {
                     const int p = static_cast<int>(parse_int("--patch", v, INT_MIN, INT_MAX));
                     if (!patch_size_ok(p))
                         throw Error("--patch " + std::to_string(p) + " is not a multiple of 8 between 8 and 256");
                     o.codec.patch = p;
                 },
                 [](const CompressOptions& o) { return std::to_string(o.codec.patch); }});
    t.push_back({"--bits",
                 "--bits",
                 "bits",
                 "bits",
                 OptionKind::TEXT,
                 "SPEC",
                 "allocation spec BITS:FRACTION,... (widths 0..8, fractions sum to 1)",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::ALWAYS,
                 "",
                 [](CompressOptions& o, std::string_view v) { o.codec.bits = BitSpec::parse(v); },
                 [](const CompressOptions& o) { return o.codec.bits.str(); }});
    t.push_back({"--bands",
                 "--bands",
                 "bands",
                 "bands",
                 OptionKind::TEXT,
                 "NAME",
                 "dwt sub-bands kept",
                 {"all", "ll_lh_hl", "ll_only"},
                 "--method dwt",
                 has_bands,
                 "all",
                 OptionShow::ALWAYS,
                 "bands=",
                 [](CompressOptions& o, std::string_view v) {
                     if (!bands_from_name(v, o.codec.bands)) check_choice("--bands", {"all", "ll_lh_hl", "ll_only"}, v);
                 },
                 [](const CompressOptions& o) { return std::string(bands_name(o.codec.bands)); }});
    t.push_back({"--quant-table",
                 "--quant-table",
                 "quant_table",
                 "quant_table",
                 OptionKind::TEXT,
                 "NAME",
                 "dct coefficient weighting: none, or jpeg (the JPEG luminance table resized to p)",
                 {"none", "jpeg"},
                 "--method dct",
                 [](const CompressOptions& o) { return !o.codec.jpeg_table || o.codec.transform == TransformId::DCT; },
                 "",
                 OptionShow::NONDEFAULT,
                 "quant-table=",
                 [](CompressOptions& o, std::string_view v) {
                     check_choice("--quant-table", {"none", "jpeg"}, v);
                     o.codec.jpeg_table = v == "jpeg";
                 },
                 [](const CompressOptions& o) { return std::string(o.codec.jpeg_table ? "jpeg" : "none"); }});
    t.push_back({"--importance",
                 "--importance",
                 "importance",
                 "importance",
                 OptionKind::TEXT,
                 "NAME",
                 "patch ranking: pre (Frobenius norm) or post (low-frequency energy)",
                 {"pre", "post"},
                 "",
                 nullptr,
                 "",
                 OptionShow::NONDEFAULT,
                 "importance=",
                 [](CompressOptions& o, std::string_view v) {
                     check_choice("--importance", {"pre", "post"}, v);
                     o.codec.post_importance = v == "post";
                 },
                 [](const CompressOptions& o) { return std::string(o.codec.post_importance ? "post" : "pre"); }});
    t.push_back(
        {"--range",
         "--range",
         "range",
         "range",
         OptionKind::TEXT,
         "NAME",
         "per-patch quantizer range: minmax (the seed's) or mse (shrunk to least error)",
         {"minmax", "mse"},
         "",
         nullptr,
         "",
         OptionShow::NONDEFAULT,
         "range=",
         [](CompressOptions& o, std::string_view v) {
             check_choice("--range", {"minmax", "mse"}, v);
             o.codec.range = v == "mse" ? RangeRule::MSE : RangeRule::MINMAX;
         },
         [](const CompressOptions& o) { return std::string(o.codec.range == RangeRule::MSE ? "mse" : "minmax"); }});
    t.push_back({"--meta",
                 "--meta",
                 "meta",
                 "meta",
                 OptionKind::TEXT,
                 "NAME",
                 "per-patch range precision: f16 or f32",
                 {"f16", "f32"},
                 "",
                 nullptr,
                 "",
                 OptionShow::NONDEFAULT,
                 "meta=",
                 [](CompressOptions& o, std::string_view v) {
                     check_choice("--meta", {"f16", "f32"}, v);
                     o.codec.meta_f32 = v == "f32";
                 },
                 [](const CompressOptions& o) { return std::string(o.codec.meta_f32 ? "f32" : "f16"); }});
    t.push_back({"--entropy",
                 "--entropy",
                 "entropy",
                 "entropy",
                 OptionKind::TEXT,
                 "NAME",
                 "entropy coding of stored blobs: zstd or none",
                 {"zstd", "none"},
                 "",
                 nullptr,
                 "",
                 OptionShow::NONDEFAULT,
                 "entropy=",
                 [](CompressOptions& o, std::string_view v) {
                     check_choice("--entropy", {"zstd", "none"}, v);
                     o.entropy = v == "zstd";
                 },
                 [](const CompressOptions& o) { return std::string(o.entropy ? "zstd" : "none"); }});
    t.push_back({"--include",
                 "--include",
                 "include",
                 "include",
                 OptionKind::TEXT,
                 "RE",
                 "compress the 2-D tensors whose names match this regex (replaces the default rule)",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::NONDEFAULT,
                 "include=",
                 [](CompressOptions& o, std::string_view v) {
                     check_regex("--include", v);
                     o.include = v;
                 },
                 [](const CompressOptions& o) { return o.include; }});
    t.push_back({"--exclude",
                 "--exclude",
                 "exclude",
                 "exclude",
                 OptionKind::TEXT,
                 "RE",
                 "never compress tensors whose names match this regex",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::NONDEFAULT,
                 "exclude=",
                 [](CompressOptions& o, std::string_view v) {
                     check_regex("--exclude", v);
                     o.exclude = v;
                 },
                 [](const CompressOptions& o) { return o.exclude; }});
    // Not in the recorded `options`: the HEADER keeps it as its own field, base_name
    // (FORMAT.md), written only when given, so files made without it keep their bytes.
    t.push_back({"--base-name",
                 "--base-name",
                 "base_name",
                 "",
                 OptionKind::TEXT,
                 "NAME",
                 "record NAME in the .dcx as the name of its base (e.g. its Hugging Face id); info shows it",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::NEVER,
                 "",
                 [](CompressOptions& o, std::string_view v) {
                     if (v.size() > kMaxBaseName || !is_valid_utf8(v))
                         throw Error("--base-name must be UTF-8 text of at most " + std::to_string(kMaxBaseName) +
                                     " bytes");
                     o.base_name = v;
                 },
                 [](const CompressOptions& o) { return o.base_name; }});
    // Run settings: they do not change the output's bytes, so they are not recorded.
    t.push_back({"-T,--threads",
                 "--threads",
                 "threads",
                 "",
                 OptionKind::INT,
                 "N",
                 "threads (0 = all cores; the output does not depend on it)",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::NEVER,
                 "",
                 [](CompressOptions& o, std::string_view v) {
                     o.threads = static_cast<unsigned>(parse_int("--threads", v, 0, kMaxThreads));
                 },
                 [](const CompressOptions& o) { return std::to_string(o.threads); }});
    t.push_back({"-f,--force",
                 "--force",
                 "overwrite",
                 "",
                 OptionKind::FLAG,
                 "",
                 "replace OUT (and the report) if it is a regular file",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::NEVER,
                 "",
                 [](CompressOptions& o, std::string_view v) { o.overwrite = parse_flag("--force", v); },
                 [](const CompressOptions& o) { return std::string(o.overwrite ? "true" : "false"); }});
    t.push_back({"--follow-symlinks",
                 "--follow-symlinks",
                 "follow_symlinks",
                 "",
                 OptionKind::FLAG,
                 "",
                 "read symbolic links inside model directories (refused by default)",
                 {},
                 "",
                 nullptr,
                 "",
                 OptionShow::NEVER,
                 "",
                 [](CompressOptions& o, std::string_view v) { o.follow_symlinks = parse_flag("--follow-symlinks", v); },
                 [](const CompressOptions& o) { return std::string(o.follow_symlinks ? "true" : "false"); }});
    return t;
}

}  // namespace

std::string OptionRow::default_text() const { return get(CompressOptions{}); }

const std::vector<OptionRow>& option_table() {
    static const std::vector<OptionRow> table = build_table();
    return table;
}

const OptionRow* find_option_by_keyword(std::string_view keyword) {
    for (const OptionRow& r : option_table())
        if (r.keyword == keyword) return &r;
    return nullptr;
}

void set_options(CompressOptions& o, const std::vector<std::pair<const OptionRow*, std::string>>& given) {
    for (const auto& [row, text] : given) row->set(o, text);
    for (const auto& [row, text] : given)
        if (row->applies && !row->applies(o))
            throw Error(std::string(row->flag) + " " + text + " applies to " + std::string(row->only) + " only");
}

json options_json(const CompressOptions& o) { return options_json(o, option_table()); }

json options_json(const CompressOptions& o, const std::vector<OptionRow>& table) {
    json j = json::object();
    for (const OptionRow& r : table) {
        if (!r.recorded() || (!r.record_default && r.get(o) == r.default_text())) continue;
        const std::string v =
            r.applies && !r.applies(o) && !r.inapplicable_json.empty() ? std::string(r.inapplicable_json) : r.get(o);
        if (r.kind == OptionKind::INT)
            j[std::string(r.json)] = std::stoll(v);
        else
            j[std::string(r.json)] = v;
    }
    return j;
}

namespace {
// What describe() and cli_flags() show, in table order: the ALWAYS rows that apply
// to the method, and the NONDEFAULT rows set to something other than their default.
std::vector<std::pair<const OptionRow*, std::string>> shown_rows(const CompressOptions& o) {
    std::vector<std::pair<const OptionRow*, std::string>> out;
    for (const OptionRow& r : option_table()) {
        if (r.show == OptionShow::NEVER || (r.applies && !r.applies(o))) continue;
        std::string v = r.get(o);
        if (r.show == OptionShow::NONDEFAULT && v == r.default_text()) continue;
        out.emplace_back(&r, std::move(v));
    }
    return out;
}
}  // namespace

std::string describe(const CompressOptions& o) {
    std::string s;
    for (const auto& [r, v] : shown_rows(o)) {
        if (!s.empty()) s += ' ';
        s += r->show_label;
        s += printable(v);
    }
    return s;
}

std::string shell_word(std::string_view v) {
    const bool plain = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
    });
    if (plain) return std::string(v);
    std::string q = "'";
    for (char c : v) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string cli_flags(const CompressOptions& o) {
    std::string s;
    for (const auto& [r, v] : shown_rows(o)) {
        if (!s.empty()) s += ' ';
        s += r->flag;
        if (r->kind == OptionKind::FLAG) continue;  // shown only when on
        s += ' ';
        s += printable(shell_word(v));
    }
    return s;
}

}  // namespace deltacodec
