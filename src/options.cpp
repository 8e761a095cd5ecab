// deltacodec — the compress option table (include/deltacodec/options.hpp) and
// what is generated from it: the recorded `options` object and describe().
#include "deltacodec/options.hpp"

#include <charconv>
#include <climits>

#include "codec/codec.hpp"
#include "deltacodec/deltacodec.hpp"
#include "options_json.hpp"

namespace deltacodec {
using json = nlohmann::json;

namespace {

// The set() functions below throw Error(PROBLEM), the phrase that follows the
// option and its value in the message set_options() words (option_error()).

// A TEXT row's value must be one of its choices.
void check_choice(const std::vector<std::string>& choices, std::string_view v) {
    for (const std::string& c : choices)
        if (v == c) return;
    std::string list;
    for (const std::string& c : choices) list += (list.empty() ? "" : ", ") + c;
    throw Error("is not one of " + list);
}

// A whole decimal integer in [lo, hi].
long long parse_int(std::string_view v, long long lo, long long hi) {
    long long x = 0;
    const char* end = v.data() + v.size();
    const char* begin =
        v.data() + (v.size() > 1 && v[0] == '+' && v[1] >= '0' && v[1] <= '9');  // "+16", as CLI11's numbers took
    const auto r = std::from_chars(begin, end, x);
    if (v.empty() || r.ec == std::errc::invalid_argument || r.ptr != end) throw Error("is not a whole number");
    if (r.ec == std::errc::result_out_of_range || x < lo || x > hi)
        throw Error("is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    return x;
}

bool parse_flag(std::string_view v) {
    if (v == "true") return true;
    if (v == "false") return false;
    throw Error("is not true or false");
}

// A value as the API writes it: 'text', 12, True.
std::string api_value(const OptionRow& row, std::string_view v) {
    switch (row.kind) {
        case OptionKind::INT:
            return std::string(v);
        case OptionKind::FLAG:
            return v == "true" ? "True" : v == "false" ? "False" : "'" + std::string(v) + "'";
        case OptionKind::TEXT:
            break;
    }
    return "'" + std::string(v) + "'";
}

// A row's `only` ("--method dwt") as the API writes it ("method='dwt'").
std::string api_only(const OptionRow& row) {
    const std::string_view only = row.only;
    const size_t sp = only.find(' ');
    for (const OptionRow& r : option_table())
        if (sp != std::string_view::npos && r.flag == only.substr(0, sp))
            return std::string(r.keyword) + "=" + api_value(r, only.substr(sp + 1));
    return std::string(only);
}

std::vector<std::string> method_names() {
    std::vector<std::string> v;
    for (const TransformEntry& t : transform_table()) v.emplace_back(t.name);
    return v;
}

bool has_bands(const CompressOptions& o) { return find_transform(o.codec.transform)->has_bands; }

std::vector<OptionRow> build_table() {
    std::vector<OptionRow> t;
    // Each row: names, kind, help, choices, where it applies, describe(), set, get.
    t.push_back({"--method", "--method", "method", "method", OptionKind::TEXT, "NAME",
                 "transform: dct, or dwt (one-level Haar)", method_names(), "", nullptr, "", OptionShow::ALWAYS, "",
                 [](CompressOptions& o, std::string_view v) {
                     check_choice(method_names(), v);
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
                     const int p = static_cast<int>(parse_int(v, INT_MIN, INT_MAX));
                     if (!patch_size_ok(p)) throw Error(kPatchSizeProblem);
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
                 [](CompressOptions& o, std::string_view v) {
                     BitSpec spec;
                     const std::string why = parse_bit_spec(v, spec);
                     if (!why.empty()) throw Error("is not a valid allocation spec: " + why);
                     o.codec.bits = spec;
                 },
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
                     if (!bands_from_name(v, o.codec.bands)) check_choice({"all", "ll_lh_hl", "ll_only"}, v);
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
                     check_choice({"none", "jpeg"}, v);
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
                     check_choice({"pre", "post"}, v);
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
             check_choice({"minmax", "mse"}, v);
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
                     check_choice({"f16", "f32"}, v);
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
                     check_choice({"zstd", "none"}, v);
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
                 [](CompressOptions& o, std::string_view v) { o.include = v; },
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
                 [](CompressOptions& o, std::string_view v) { o.exclude = v; },
                 [](const CompressOptions& o) { return o.exclude; }});
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
                     o.threads = static_cast<unsigned>(parse_int(v, 0, kMaxThreads));
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
                 [](CompressOptions& o, std::string_view v) { o.overwrite = parse_flag(v); },
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
                 [](CompressOptions& o, std::string_view v) { o.follow_symlinks = parse_flag(v); },
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

Error option_error(const OptionRow& row, std::string_view value, const std::string& problem) {
    return Error(std::string(row.flag) + " '" + std::string(value) + "' " + problem,
                 std::string(row.keyword) + "=" + api_value(row, value) + " " + problem, ErrorKind::OPTION);
}

Error inapplicable_error(const OptionRow& row, std::string_view value) {
    return Error(std::string(row.flag) + " " + std::string(value) + " applies to " + std::string(row.only) + " only",
                 std::string(row.keyword) + "=" + api_value(row, value) + " applies to " + api_only(row) + " only",
                 ErrorKind::OPTION);
}

void set_options(CompressOptions& o, const std::vector<std::pair<const OptionRow*, std::string>>& given) {
    for (const auto& [row, text] : given) {
        try {
            row->set(o, text);
        } catch (const Error& e) {
            throw option_error(*row, text, e.what());
        }
    }
    for (const auto& [row, text] : given)
        if (row->applies && !row->applies(o)) throw inapplicable_error(*row, text);
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

std::string describe(const CompressOptions& o) {
    std::string s;
    for (const OptionRow& r : option_table()) {
        if (r.show == OptionShow::NEVER || (r.applies && !r.applies(o))) continue;
        const std::string v = r.get(o);
        if (r.show == OptionShow::NONDEFAULT && v == r.default_text()) continue;
        if (!s.empty()) s += ' ';
        s += r.show_label;
        s += printable(v);
    }
    return s;
}

}  // namespace deltacodec
