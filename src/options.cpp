// deltacodec — the compress option table (include/deltacodec/options.hpp) and
// what is generated from it: the recorded `options` object and describe().
#include "deltacodec/options.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <regex>

#include "codec/allocation.hpp"
#include "codec/codec.hpp"
#include "deltacodec/deltacodec.hpp"
#include "io/text.hpp"
#include "methods/method.hpp"
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

// A finite decimal number in [lo, hi], or 0 (`zero_ok`: the field's "not set").
double parse_number(std::string_view v, double lo, double hi, bool zero_ok) {
    double x = 0;
    const char* end = v.data() + v.size();
    const auto r = std::from_chars(v.data(), end, x, std::chars_format::general);
    if (v.empty() || r.ec == std::errc::invalid_argument || r.ptr != end || !std::isfinite(x))
        throw Error("is not a number");
    if (zero_ok && x == 0) return 0;
    if (r.ec == std::errc::result_out_of_range || !(x >= lo && x <= hi))
        throw Error("is out of range " + number_text(lo) + ".." + number_text(hi) + (zero_ok ? " (or 0: none)" : ""));
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
        case OptionKind::NUMBER:
            return std::string(v);
        case OptionKind::FLAG:
            return v == "true" ? "True" : v == "false" ? "False" : "'" + std::string(v) + "'";
        case OptionKind::TEXT:
            break;
    }
    return "'" + std::string(v) + "'";
}

// A row's `only` ("--method dwt", "--method dct|dwt") as the API writes it
// ("method='dwt'", "method='dct' or method='dwt'").
std::string api_only(const OptionRow& row) {
    const std::string_view only = row.only;
    const size_t sp = only.find(' ');
    for (const OptionRow& r : option_table()) {
        if (sp == std::string_view::npos || r.flag != only.substr(0, sp)) continue;
        std::string out;
        std::string_view values = only.substr(sp + 1);
        while (true) {
            const size_t bar = values.find('|');
            out += (out.empty() ? "" : " or ") + std::string(r.keyword) + "=" + api_value(r, values.substr(0, bar));
            if (bar == std::string_view::npos) break;
            values = values.substr(bar + 1);
        }
        return out;
    }
    return std::string(only);
}

bool has_bands(const CompressOptions& o) { return find_transform(o.codec.transform)->has_bands; }
bool multi_level(const CompressOptions& o) { return find_transform(o.codec.transform)->max_levels != 0; }

// A bad regular expression is a bad option value (exit 2 in the CLI), found before any work.
// (The pattern comes from the caller, not from a file.)
// set_options() words it with the row's flag or keyword and the value.
void check_regex(std::string_view v) {
    try {
        std::regex(std::string(v), std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error&) {
        throw Error("is not a valid regular expression");
    }
}

using Setter = std::function<void(CompressOptions&, std::string_view)>;
using Getter = std::function<std::string(const CompressOptions&)>;

// What every row has. The long flag is the last of the CLI names; the JSON key is
// the keyword (empty for a run setting: `recorded` false).
OptionRow row(std::string_view cli, std::string_view keyword, bool recorded, OptionKind kind,
              std::string_view value_name, std::string_view help, OptionShow show, std::string_view label, Setter set,
              Getter get) {
    OptionRow r{};
    r.cli = cli;
    r.flag = cli.substr(cli.rfind(',') + 1);
    r.keyword = keyword;
    r.json = recorded ? keyword : std::string_view();
    r.kind = kind;
    r.value_name = value_name;
    r.help = help;
    r.show = show;
    r.show_label = label;
    r.set = std::move(set);
    r.get = std::move(get);
    return r;
}

// A TEXT row with a closed set of values, each standing for one value of the
// option's field (`field(o)` is a reference to it).
template <typename V, typename Field>
OptionRow choice_row(std::string_view cli, std::string_view keyword, std::string_view help, OptionShow show,
                     std::string_view label, std::vector<std::pair<std::string, V>> values, Field field) {
    std::vector<std::string> names;
    for (const auto& v : values) names.push_back(v.first);
    OptionRow r = row(
        cli, keyword, true, OptionKind::TEXT, "NAME", help, show, label,
        [names, values, field](CompressOptions& o, std::string_view v) {
            check_choice(names, v);
            for (const auto& [name, value] : values)
                if (name == v) field(o) = value;
        },
        [values, field](const CompressOptions& o) {
            for (const auto& [name, value] : values)
                if (field(o) == value) return name;
            return std::string();
        });
    r.choices = std::move(names);
    return r;
}

// An on/off FLAG row (a run setting).
template <typename Field>
OptionRow flag_row(std::string_view cli, std::string_view keyword, std::string_view help, Field field) {
    return row(
        cli, keyword, false, OptionKind::FLAG, "", help, OptionShow::NEVER, "",
        [field](CompressOptions& o, std::string_view v) { field(o) = parse_flag(v); },
        [field](const CompressOptions& o) { return std::string(field(o) ? "true" : "false"); });
}

// A row of the patch coder's options: refused, not recorded, not shown with another method.
OptionRow patch_row(OptionRow r) {
    static const std::string only = [] {
        std::string s = "--method ";
        for (const std::string& v : method_values(method(MethodId::PATCH))) s += (s.size() > 9 ? "|" : "") + v;
        return s;
    }();
    r.method = method(MethodId::PATCH).name;
    if (r.only.empty()) r.only = only;
    return r;
}

// `--method`: every value a lossy method of the registry answers to, with its summary.
const std::string& method_help() {
    static const std::string help = [] {
        std::string h =
            "lossy method for the selected tensors (with a rate target: a comma list to choose among, default "
            "every one):";
        const char* sep = " ";
        for (const MethodTraits* m : method_table()) {
            const std::vector<std::string> values = method_values(*m);
            if (values.empty()) continue;
            h += sep;
            for (size_t i = 0; i < values.size(); ++i) h += (i ? "|" : "") + values[i];
            h += " (" + std::string(m->summary) + ")";
            sep = "; ";
        }
        return h;
    }();
    return help;
}

std::vector<OptionRow> build_table() {
    std::vector<OptionRow> t;
    t.push_back(row("--method", "method", true, OptionKind::TEXT, "NAME", method_help(), OptionShow::ALWAYS, "",
                    choose_method, chosen_method_value));
    t.back().choices = all_method_values();
    t.push_back(patch_row(row(
        "--patch", "patch", true, OptionKind::INT, "P", "patch size p (a multiple of 8, 8..256)", OptionShow::ALWAYS,
        "p=",
        [](CompressOptions& o, std::string_view v) {
            const int p = static_cast<int>(parse_int(v, INT_MIN, INT_MAX));
            if (!patch_size_ok(p)) throw Error(kPatchSizeProblem);
            o.codec.patch = p;
        },
        [](const CompressOptions& o) { return std::to_string(o.codec.patch); })));
    t.push_back(patch_row(row(
        "--bits", "bits", true, OptionKind::TEXT, "SPEC",
        "allocation spec BITS:FRACTION,... (widths 0..8, fractions sum to 1)", OptionShow::ALWAYS, "",
        [](CompressOptions& o, std::string_view v) {
            BitSpec spec;
            const std::string why = parse_bit_spec(v, spec);
            if (!why.empty()) throw Error("is not a valid allocation spec: " + why);
            o.codec.bits = spec;
        },
        [](const CompressOptions& o) { return o.codec.bits.str(); })));
    std::vector<std::pair<std::string, Bands>> bands;
    for (const CodeName& c : kBandsCodes) bands.emplace_back(c.name, static_cast<Bands>(c.code));
    t.push_back(choice_row(
        "--bands", "bands", "wavelet sub-bands kept (dwt, db2, db4, cdf97)", OptionShow::ALWAYS, "bands=", bands,
        [](auto& o) -> auto& { return o.codec.bands; }));
    t.back().only = "--method dwt|db2|db4|cdf97";
    t.back().applies = has_bands;
    t.back().inapplicable_json = "all";
    t.back() = patch_row(t.back());
    t.push_back(row(
        "--levels", "levels", true, OptionKind::INT, "N",
        "wavelet decomposition levels, 1..7 with p / 2^N >= 2 (db2, db4, cdf97)", OptionShow::NONDEFAULT, "levels=",
        [](CompressOptions& o, std::string_view v) { o.codec.levels = static_cast<int>(parse_int(v, 1, 7)); },
        [](const CompressOptions& o) { return std::to_string(o.codec.levels); }));
    t.back().only = "--method db2|db4|cdf97";
    t.back().applies = multi_level;
    t.back().record_default = false;  // files made without it keep their HEADER bytes
    t.back() = patch_row(t.back());
    t.push_back(choice_row<bool>(
        "--quant-table", "quant_table",
        "dct coefficient weighting: none, or jpeg (the JPEG luminance table resized to p)", OptionShow::NONDEFAULT,
        "quant-table=", {{"none", false}, {"jpeg", true}}, [](auto& o) -> auto& { return o.codec.jpeg_table; }));
    t.back().only = "--method dct";
    t.back().applies = [](const CompressOptions& o) {
        return !o.codec.jpeg_table || o.codec.transform == TransformId::DCT;
    };
    t.back() = patch_row(t.back());
    t.push_back(patch_row(choice_row<bool>(
        "--importance", "importance", "patch ranking: pre (Frobenius norm) or post (low-frequency energy)",
        OptionShow::NONDEFAULT, "importance=", {{"pre", false}, {"post", true}},
        [](auto& o) -> auto& { return o.codec.post_importance; })));
    t.push_back(patch_row(choice_row<RangeRule>(
        "--range", "range", "per-patch quantizer range: minmax (the seed's) or mse (shrunk to least error)",
        OptionShow::NONDEFAULT, "range=", {{"minmax", RangeRule::MINMAX}, {"mse", RangeRule::MSE}},
        [](auto& o) -> auto& { return o.codec.range; })));
    t.push_back(patch_row(choice_row<bool>(
        "--meta", "meta", "per-patch range precision: f16 or f32", OptionShow::NONDEFAULT,
        "meta=", {{"f16", false}, {"f32", true}}, [](auto& o) -> auto& { return o.codec.meta_f32; })));
    // ecsq's options (method 4): not recorded at their defaults, so older files keep their bytes.
    auto ecsq_row = [](OptionRow r) {
        r.method = "ecsq|hybrid";
        r.only = "--method ecsq|hybrid";
        r.record_default = false;
        return r;
    };
    t.push_back(ecsq_row(row(
        "--ecsq-bits", "ecsq_bits", true, OptionKind::TEXT, "BITS",
        "ecsq (hybrid: its residual) without a rate target: the entropy aimed at per tensor, bits/param "
        "(0.01..16)",
        OptionShow::NONDEFAULT, "ecsq-bits=",
        [](CompressOptions& o, std::string_view v) {
            double x = 0;
            const auto r = std::from_chars(v.data(), v.data() + v.size(), x);
            if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || !(x >= 0.01 && x <= 16))
                throw Error("is not a number of bits per parameter in 0.01..16");
            o.ecsq_bits = x;
        },
        [](const CompressOptions& o) {
            char b[32];
            const auto r = std::to_chars(b, b + sizeof b, o.ecsq_bits);
            return std::string(b, r.ptr);
        })));
    t.push_back(ecsq_row(choice_row<bool>(
        "--ecsq-gain", "ecsq_gain",
        "ecsq reconstruction: mse (least-error centroids) or projection (rescaled so <D^,D> = |D|^2); default to be "
        "decided by the zoo",
        OptionShow::NONDEFAULT, "ecsq-gain=", {{"mse", false}, {"projection", true}},
        [](auto& o) -> auto& { return o.ecsq_projection; })));
    // sparse's options (method 6): not recorded at their defaults, so older files keep their bytes.
    auto sparse_row = [](OptionRow r) {
        r.method = "sparse";
        r.only = "--method sparse";
        r.record_default = false;
        return r;
    };
    t.push_back(sparse_row(choice_row<bool>(
        "--sparse-keep", "sparse_keep",
        "sparse: which entries are kept: magnitude (the largest |delta|) or random (DARE: a seeded random subset)",
        OptionShow::NONDEFAULT, "sparse-keep=", {{"magnitude", false}, {"random", true}},
        [](auto& o) -> auto& { return o.sparse_random; })));
    t.push_back(sparse_row(row(
        "--sparse-keep-frac", "sparse_keep_frac", true, OptionKind::NUMBER, "F",
        "sparse without a rate target: the fraction of each delta's entries kept (0.0001..1)", OptionShow::NONDEFAULT,
        "sparse-keep-frac=",
        [](CompressOptions& o, std::string_view v) { o.sparse_keep_frac = parse_number(v, 0.0001, 1, false); },
        [](const CompressOptions& o) { return number_text(o.sparse_keep_frac); })));
    t.push_back(sparse_row(row(
        "--sparse-bits", "sparse_bits", true, OptionKind::NUMBER, "B",
        "sparse without a rate target: about B bits per kept value (0.5..8)", OptionShow::NONDEFAULT,
        "sparse-bits=", [](CompressOptions& o, std::string_view v) { o.sparse_bits = parse_number(v, 0.5, 8, false); },
        [](const CompressOptions& o) { return number_text(o.sparse_bits); })));
    t.push_back(sparse_row(choice_row<SparseGain>(
        "--sparse-gain", "sparse_gain",
        "sparse: scale of the kept values: mse (1), projection (so <D^,D> = |D|^2) or dare (1/fraction kept)",
        OptionShow::NONDEFAULT,
        "sparse-gain=", {{"mse", SparseGain::MSE}, {"projection", SparseGain::PROJECTION}, {"dare", SparseGain::DARE}},
        [](auto& o) -> auto& { return o.sparse_gain; })));
    t.push_back(row(
        "--rank", "rank", true, OptionKind::INT, "N",
        "lowrank, hybrid: rank of each delta's truncated SVD (1..65536; at most min(rows, cols)); svdmix: spends "
        "what lowrank spends at this rank",
        OptionShow::ALWAYS,
        "rank=", [](CompressOptions& o, std::string_view v) { o.rank = static_cast<unsigned>(parse_int(v, 1, 65536)); },
        [](const CompressOptions& o) { return std::to_string(o.rank); }));
    t.back().method = "lowrank|svdmix|hybrid";
    t.back().only = "--method lowrank|svdmix|hybrid";
    t.back().record_default = false;
    t.push_back(row(
        "--rank-bits", "rank_bits", true, OptionKind::INT, "B",
        "lowrank, hybrid: bits of each code of the SVD's factors (1..8; 4 keeps the most per byte); svdmix: the "
        "budget's width",
        OptionShow::ALWAYS, "rank-bits=",
        [](CompressOptions& o, std::string_view v) { o.rank_bits = static_cast<unsigned>(parse_int(v, 1, 8)); },
        [](const CompressOptions& o) { return std::to_string(o.rank_bits); }));
    t.back().method = "lowrank|svdmix|hybrid";
    t.back().only = "--method lowrank|svdmix|hybrid";
    t.back().record_default = false;
    t.push_back(choice_row<bool>(
        "--entropy", "entropy", "entropy coding of stored blobs: zstd or none", OptionShow::NONDEFAULT,
        "entropy=", {{"zstd", true}, {"none", false}}, [](auto& o) -> auto& { return o.entropy; }));
    // Not recorded at its default, so files made without it keep their bytes.
    t.push_back(choice_row<bool>(
        "--lossless-coder", "lossless_coder",
        "tensors kept exactly: zstd (one zstd frame of byte planes; method 1) or rans (byte planes in chunks, "
        "each raw, constant, rANS or zstd, whichever is smallest; method 9: smaller, slower today)",
        OptionShow::NONDEFAULT, "lossless=", {{"zstd", false}, {"rans", true}},
        [](auto& o) -> auto& { return o.lossless_rans; }));
    t.back().record_default = false;
    t.push_back(row(
        "--include", "include", true, OptionKind::TEXT, "RE",
        "compress the 2-D tensors whose names match this regex (replaces the default rule)", OptionShow::NONDEFAULT,
        "include=",
        [](CompressOptions& o, std::string_view v) {
            check_regex(v);
            o.include = v;
        },
        [](const CompressOptions& o) { return o.include; }));
    t.push_back(row(
        "--exclude", "exclude", true, OptionKind::TEXT, "RE", "never compress tensors whose names match this regex",
        OptionShow::NONDEFAULT, "exclude=",
        [](CompressOptions& o, std::string_view v) {
            check_regex(v);
            o.exclude = v;
        },
        [](const CompressOptions& o) { return o.exclude; }));
    // The rate target (rate control, src/pipeline/allocate.cpp): recorded only when
    // set, so files made without it keep their bytes. check_rate_target() refuses both.
    t.push_back(row(
        "--bpp", "bpp", true, OptionKind::NUMBER, "X",
        "rate target: bits per parameter of the whole file (every byte, over every parameter of the fine-tune); "
        "each tensor's method and rate are chosen to least error",
        OptionShow::NONDEFAULT, "bpp=",
        [](CompressOptions& o, std::string_view v) { o.bpp = parse_number(v, kMinTargetBpp, kMaxTargetBpp, true); },
        [](const CompressOptions& o) { return number_text(o.bpp); }));
    t.back().record_default = false;
    t.push_back(row(
        "--ratio", "ratio", true, OptionKind::NUMBER, "R",
        "rate target: the file's real ratio (bytes of the fine-tune's tensors / bytes of the .dcx); as --bpp",
        OptionShow::NONDEFAULT, "ratio=",
        [](CompressOptions& o, std::string_view v) {
            o.ratio = parse_number(v, kMinTargetRatio, kMaxTargetRatio, true);
        },
        [](const CompressOptions& o) { return number_text(o.ratio); }));
    t.back().record_default = false;
    t.push_back(choice_row<RdWeight>(
        "--rd-weight", "rd_weight",
        "with a rate target, the weight of each tensor's squared error: none (plain), base (over the base tensor's "
        "squared norm) or delta (over the delta's: relative errors alike)",
        OptionShow::NONDEFAULT,
        "rd-weight=", {{"none", RdWeight::NONE}, {"base", RdWeight::BASE}, {"delta", RdWeight::DELTA}},
        [](auto& o) -> auto& { return o.rd_weight; }));
    t.back().record_default = false;
    // Not in the recorded `options`: the HEADER keeps it as its own field, base_name
    // (FORMAT.md), written only when given, so files made without it keep their bytes.
    t.push_back(row(
        "--base-name", "base_name", false, OptionKind::TEXT, "NAME",
        "record NAME in the .dcx as the name of its base (e.g. its Hugging Face id); info shows it", OptionShow::NEVER,
        "",
        [](CompressOptions& o, std::string_view v) {
            if (v.size() > kMaxBaseName || !is_valid_utf8(v))
                throw Error("--base-name must be UTF-8 text of at most " + std::to_string(kMaxBaseName) + " bytes");
            o.base_name = v;
        },
        [](const CompressOptions& o) { return o.base_name; }));
    // Run settings: they do not change the output's bytes, so they are not recorded.
    t.push_back(row(
        "-T,--threads", "threads", false, OptionKind::INT, "N",
        "threads (0 = all cores; the output does not depend on it)", OptionShow::NEVER, "",
        [](CompressOptions& o, std::string_view v) { o.threads = static_cast<unsigned>(parse_int(v, 0, kMaxThreads)); },
        [](const CompressOptions& o) { return std::to_string(o.threads); }));
    t.push_back(flag_row(
        "-f,--force", "overwrite", "replace OUT (and the report) if it is a regular file",
        [](auto& o) -> auto& { return o.overwrite; }));
    t.push_back(flag_row(
        "--follow-symlinks", "follow_symlinks", "read symbolic links inside model directories (refused by default)",
        [](auto& o) -> auto& { return o.follow_symlinks; }));
    return t;
}

}  // namespace

std::string OptionRow::default_text() const { return get(CompressOptions{}); }

namespace {
// One of the row's methods ("lowrank|svdmix") is a chosen one (or the row is every method's).
bool method_is_chosen(const OptionRow& r, const CompressOptions& o) {
    if (r.method.empty()) return true;
    for (std::string_view rest = r.method;;) {
        const size_t bar = rest.find('|');
        const MethodTraits* m = find_method(rest.substr(0, bar));
        if (m && !method_chosen(*m, o).empty()) return true;
        if (bar == std::string_view::npos) return false;
        rest = rest.substr(bar + 1);
    }
}
}  // namespace

bool OptionRow::applies_to(const CompressOptions& o) const {
    return method_is_chosen(*this, o) && (!applies || applies(o));
}

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
            if (e.kind() == ErrorKind::OPTION) throw;  // worded already (refuse_method())
            throw option_error(*row, text, e.what());
        }
    }
    // Another method's option is refused, unless given at its default (it changes nothing).
    for (const auto& [row, text] : given)
        if (!row->applies_to(o) && (method_is_chosen(*row, o) || text != row->default_text()))
            throw inapplicable_error(*row, text);
    check_levels(o);
    check_rate_target(o);
}

void check_levels(const CompressOptions& o) {
    const CodecParams& c = o.codec;
    const OptionRow& row = *find_option_by_keyword("levels");
    if (!multi_level(o)) {
        if (c.levels != 1) throw inapplicable_error(row, std::to_string(c.levels));
        return;
    }
    if (!levels_ok(c.transform, c.patch, c.levels))
        throw option_error(
            row, std::to_string(c.levels),
            "does not fit patch size " + std::to_string(c.patch) + " (levels 1..7 with p / 2^levels >= 2)");
}

void check_rate_target(const CompressOptions& o) {
    const OptionRow& bpp = *find_option_by_keyword("bpp");
    const OptionRow& ratio = *find_option_by_keyword("ratio");
    auto check = [](const OptionRow& r, double v, double lo, double hi) {
        if (v != 0 && !(std::isfinite(v) && v >= lo && v <= hi))
            throw option_error(r, number_text(v), "is out of range " + number_text(lo) + ".." + number_text(hi));
    };
    check(bpp, o.bpp, kMinTargetBpp, kMaxTargetBpp);
    check(ratio, o.ratio, kMinTargetRatio, kMaxTargetRatio);
    size_t lossy = 0;
    for (const MethodTraits* m : method_table()) lossy += !method_chosen(*m, o).empty();
    if (lossy > 1 && !rate_controlled(o)) {
        const std::string v = chosen_method_value(o);
        throw option_error(*find_option_by_keyword("method"), v,
                           "names several methods, which needs a rate target to choose among them");
    }
    if (o.rd_weight != RdWeight::NONE && !rate_controlled(o)) {
        const std::string w = find_option_by_keyword("rd_weight")->get(o);
        throw Error("--rd-weight " + w + " needs a rate target (--bpp or --ratio)",
                    "rd_weight='" + w + "' needs a rate target (bpp= or ratio=)", ErrorKind::OPTION);
    }
    if (o.bpp > 0 && o.ratio > 0)
        throw Error("--bpp and --ratio are two targets for one size: give one of them",
                    "bpp= and ratio= are two targets for one size: give one of them", ErrorKind::OPTION);
    if (rate_controlled(o) && o.codec.bits.str() != CodecParams{}.bits.str()) {
        const std::string b = o.codec.bits.str();
        throw Error("--bits " + b +
                        " cannot be combined with a rate target (--bpp, --ratio): rate control chooses "
                        "each tensor's bits",
                    "bits='" + b +
                        "' cannot be combined with a rate target (bpp=, ratio=): rate control chooses "
                        "each tensor's bits",
                    ErrorKind::OPTION);
    }
}

std::string number_text(double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

json options_json(const CompressOptions& o) { return options_json(o, option_table()); }

json options_json(const CompressOptions& o, const std::vector<OptionRow>& table) {
    json j = json::object();
    for (const OptionRow& r : table) {
        if (!r.recorded() || (!r.record_default && r.get(o) == r.default_text())) continue;
        if (!method_is_chosen(r, o)) continue;  // another method's option
        const std::string v =
            r.applies && !r.applies(o) && !r.inapplicable_json.empty() ? std::string(r.inapplicable_json) : r.get(o);
        if (r.kind == OptionKind::INT)
            j[std::string(r.json)] = std::stoll(v);
        else if (r.kind == OptionKind::NUMBER)
            j[std::string(r.json)] = std::strtod(v.c_str(), nullptr);
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
        if (r.show == OptionShow::NEVER || !r.applies_to(o)) continue;
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
