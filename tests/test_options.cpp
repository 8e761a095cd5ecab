// The option table (include/deltacodec/options.hpp) drives the CLI, the recorded
// `options` object and describe(): every test here walks the table, so a new row
// is covered without a new test. The Python package's side is in tests/python/test_api.py.
#include <algorithm>
#include <set>

#include "codec/transform.hpp"
#include "deltacodec/deltacodec.hpp"
#include "options_json.hpp"
#include "testutil.hpp"

namespace {
using namespace testutil;
using deltacodec::CompressOptions;
using deltacodec::option_table;
using deltacodec::OptionKind;
using deltacodec::OptionRow;

const std::string kBase = std::string(DELTACODEC_SOURCE_DIR) + "/examples/base.safetensors";
const std::string kFt = std::string(DELTACODEC_SOURCE_DIR) + "/examples/finetuned.safetensors";

// Every value a row accepts that tests can name: its choices, else its default.
std::vector<std::string> sample_values(const OptionRow& r) {
    if (!r.choices.empty()) return r.choices;
    return {r.default_text()};
}

// A value the row refuses; "" for free text (regexes are checked by compress(): test_errors.cpp).
std::string bad_value(const OptionRow& r) {
    if (r.kind == OptionKind::INT || r.kind == OptionKind::NUMBER) return "x1";
    if (r.kind == OptionKind::FLAG) return "maybe";
    if (!r.choices.empty()) return "no-such-" + std::string(r.keyword);
    if (r.flag == "--bits") return "2:0.5";
    return "";
}

}  // namespace

TEST(Options, TableRowsAreWellFormed) {
    std::set<std::string> flags, keywords, keys;
    for (const OptionRow& r : option_table()) {
        EXPECT_TRUE(flags.insert(std::string(r.flag)).second) << r.flag;
        EXPECT_TRUE(keywords.insert(std::string(r.keyword)).second) << r.keyword;
        if (r.recorded()) {
            EXPECT_TRUE(keys.insert(std::string(r.json)).second) << r.json;
        }
        EXPECT_NE(r.cli.find(r.flag), std::string_view::npos) << r.flag;
        EXPECT_FALSE(r.help.empty()) << r.flag;
        EXPECT_TRUE(r.set && r.get) << r.flag;
        EXPECT_EQ(r.applies != nullptr || !r.method.empty(), !r.only.empty()) << r.flag;
        // The default parses, and every accepted value reads back as given.
        for (const std::string& v : sample_values(r)) {
            CompressOptions o;
            EXPECT_NO_THROW(r.set(o, v)) << r.flag << " " << v;
            EXPECT_EQ(r.get(o), v) << r.flag;
        }
        if (!r.choices.empty()) {
            EXPECT_NE(std::find(r.choices.begin(), r.choices.end(), r.default_text()), r.choices.end())
                << r.flag << ": the default is one of the choices";
        }
    }
}

// Caught on the old code: the CLI's flags were written by hand; a row without a
// flag (or a flag without its choices or default in --help) fails here.
TEST(Options, CliHelpListsEveryRow) {
    TempDir dir;
    const RunResult h = run_cli({"compress", "--help"}, dir.path());
    ASSERT_EQ(h.rc, 0) << h.err;
    for (const OptionRow& r : option_table()) {
        EXPECT_NE(h.out.find(std::string(r.cli)), std::string::npos) << r.cli;
        for (const std::string& c : r.choices) EXPECT_NE(h.out.find(c), std::string::npos) << r.flag << " " << c;
        const size_t at = h.out.find(std::string(r.cli));
        if (at == std::string::npos || r.kind == OptionKind::FLAG || r.default_text().empty()) continue;
        const std::string line = h.out.substr(at, h.out.find('\n', at) - at);
        EXPECT_NE(line.find("=" + r.default_text()), std::string::npos) << line << ": default shown";
    }
}

// Every row of the default method (or of every method), given explicitly at its
// default, is accepted by the CLI and changes nothing: same bytes as a run without
// options. (Another method's row, e.g. --rank, is refused without its --method.)
TEST(Options, CliAcceptsEveryRowAtItsDefault) {
    TempDir dir;
    ASSERT_EQ(run_cli({"compress", kBase, kFt, "-o", dir / "plain.dcx", "-q", "-T", "2"}, dir.path()).rc, 0);
    std::vector<std::string> args = {"compress", kBase, kFt, "-o", dir / "all.dcx", "-q"};
    for (const OptionRow& r : option_table()) {
        if (!r.applies_to(CompressOptions{})) continue;
        if (r.kind == OptionKind::FLAG) {
            if (r.default_text() == "true") args.emplace_back(r.flag);
            continue;
        }
        args.emplace_back(r.flag);
        args.push_back(r.flag == "--threads" ? "2" : r.default_text());
    }
    const RunResult a = run_cli(args, dir.path());
    ASSERT_EQ(a.rc, 0) << a.err;
    EXPECT_EQ(read_bytes(dir / "all.dcx"), read_bytes(dir / "plain.dcx"));
}

// A bad value for any row is a usage error: one line naming the flag, exit 2.
// Caught on the old code: --bits and --patch values exited 1.
TEST(Options, CliBadValueOfEveryRowIsAUsageError) {
    TempDir dir;
    for (const OptionRow& r : option_table()) {
        const std::string bad = bad_value(r);
        if (bad.empty() || r.kind == OptionKind::FLAG) continue;  // a CLI flag takes no value
        const RunResult res =
            run_cli({"compress", kBase, kFt, "-o", dir / "x.dcx", std::string(r.flag), bad}, dir.path());
        EXPECT_EQ(res.rc, 2) << r.flag << ": " << res.err;
        ASSERT_EQ(res.err_lines().size(), 1u) << res.err;
        EXPECT_NE(res.err.find(std::string(r.flag)), std::string::npos) << res.err;
        EXPECT_FALSE(fs::exists(dir / "x.dcx"));
    }
    for (const char* p : {"12", "264", "0"}) {
        const RunResult res = run_cli({"compress", kBase, kFt, "-o", dir / "x.dcx", "--patch", p}, dir.path());
        EXPECT_EQ(res.rc, 2) << res.err;
        EXPECT_NE(res.err.find("multiple of 8"), std::string::npos) << res.err;
    }
    const RunResult b =
        run_cli({"compress", kBase, kFt, "-o", dir / "x.dcx", "--method", "dct", "--bands", "all"}, dir.path());
    EXPECT_EQ(b.rc, 2) << b.err;
    EXPECT_NE(b.err.find("--bands all applies to --method dwt|db2|db4|cdf97 only"), std::string::npos) << b.err;
}

// Caught on the old code: messages named only the CLI's flags. set_options() words
// each bad value twice: what() for the CLI ("--patch '12' ..."), api_message() for
// the API by keyword ("patch=12 ...", which the Python module raises).
TEST(Options, BadValueOfEveryRowIsWordedForCliAndApi) {
    for (const OptionRow& r : option_table()) {
        const std::string bad = bad_value(r);
        if (bad.empty()) continue;
        CompressOptions o;
        try {
            deltacodec::set_options(o, {{&r, bad}});
            ADD_FAILURE() << r.flag << " took " << bad;
        } catch (const deltacodec::Error& e) {
            EXPECT_EQ(e.kind(), deltacodec::ErrorKind::OPTION) << e.what();
            EXPECT_EQ(std::string(e.what()).rfind(std::string(r.flag) + " '" + bad + "' ", 0), 0u) << e.what();
            const std::string api = e.api_message();
            const std::string value = r.kind == OptionKind::INT || r.kind == OptionKind::NUMBER ? bad : "'" + bad + "'";
            EXPECT_EQ(api.rfind(std::string(r.keyword) + "=" + value + " ", 0), 0u) << api;
            EXPECT_EQ(api.find("--"), std::string::npos) << api;
        }
    }
    CompressOptions o;
    try {
        deltacodec::set_options(o, {{deltacodec::find_option_by_keyword("method"), "dct"},
                                    {deltacodec::find_option_by_keyword("bands"), "all"}});
        ADD_FAILURE() << "bands with dct";
    } catch (const deltacodec::Error& e) {
        EXPECT_STREQ(e.what(), "--bands all applies to --method dwt|db2|db4|cdf97 only");
        EXPECT_STREQ(e.api_message(),
                     "bands='all' applies to method='dwt' or method='db2' or method='db4' or method='cdf97' only");
    }
}

// Caught on the old code: options_json was written by hand; a recorded row
// missing from it (or a key no row owns) fails here.
TEST(Options, OptionsJsonHasEveryRecordedRow) {
    CompressOptions o;
    o.codec.transform = deltacodec::TransformId::HAAR;
    const nlohmann::json j = deltacodec::options_json(o);
    std::set<std::string> keys;
    for (const OptionRow& r : option_table()) {
        if (!r.recorded()) {
            EXPECT_FALSE(j.contains(std::string(r.keyword))) << r.keyword << " is a run setting, not recorded";
            continue;
        }
        if (!r.record_default) {
            EXPECT_FALSE(j.contains(std::string(r.json))) << r.json << ": a later option is recorded when set only";
            continue;
        }
        keys.insert(std::string(r.json));
        ASSERT_TRUE(j.contains(std::string(r.json))) << r.json;
        const nlohmann::json& v = j[std::string(r.json)];
        if (r.kind == OptionKind::INT)
            EXPECT_EQ(v, nlohmann::json(std::stoll(r.default_text()))) << r.json;
        else
            EXPECT_EQ(v, nlohmann::json(r.default_text())) << r.json;
    }
    EXPECT_EQ(j.size(), keys.size()) << j.dump();
    // The HEADER's bytes depend on this exact object (tests/test_golden.cpp): pinned.
    EXPECT_EQ(j.dump(),
              R"({"bands":"ll_lh_hl","bits":"2:0.5,0:0.5","entropy":"zstd","exclude":"","importance":"pre",)"
              R"("include":"","meta":"f16","method":"dwt","patch":64,"quant_table":"none","range":"minmax"})");
    o.codec.transform = deltacodec::TransformId::DCT;
    o.codec.bands = deltacodec::Bands::LL_ONLY;
    EXPECT_EQ(deltacodec::options_json(o)["bands"], "all") << "bands does not apply to dct";
}

// Caught on the old code: describe() left out --entropy none, --include and --exclude.
TEST(Options, DescribeShowsEveryNonDefaultRow) {
    CompressOptions o;
    EXPECT_EQ(deltacodec::describe(o), "dwt p=64 2:0.5,0:0.5 bands=ll_lh_hl");
    for (const OptionRow& r : option_table()) {
        if (r.show != deltacodec::OptionShow::NONDEFAULT) continue;
        const std::string free = r.kind == OptionKind::NUMBER ? "0.5" : "abc";
        for (const std::string& v : r.choices.empty() ? std::vector<std::string>{free} : r.choices) {
            if (v == r.default_text()) continue;
            CompressOptions c;
            if (r.applies)  // quant-table: dct only; levels: the multi-level wavelets
                for (const deltacodec::TransformEntry& e : deltacodec::transform_table()) {
                    c.codec.transform = e.id;
                    if (r.applies(c)) break;
                }
            if (r.method != "patch") c.method = r.method.substr(0, r.method.find('|'));  // another method's row
            std::string w = v;
            try {
                r.set(c, w);
            } catch (const deltacodec::Error&) {  // a number's row
                r.set(c, w = "3");
            }
            EXPECT_NE(deltacodec::describe(c).find(std::string(r.show_label) + w), std::string::npos)
                << r.flag << " " << w << ": " << deltacodec::describe(c);
        }
    }
}

// A row added after v1 is recorded only when set, so files made without it keep
// their HEADER bytes: the golden files stay byte-identical when a row is added.
TEST(Options, ALaterRowLeavesDefaultOptionsUnchanged) {
    std::vector<OptionRow> table = option_table();
    OptionRow later = table.front();
    later.cli = later.flag = "--later";
    later.keyword = later.json = "later";
    later.applies = nullptr;
    later.only = "";
    later.record_default = false;
    later.get = [](const CompressOptions& o) { return std::string(o.codec.meta_f32 ? "on" : "off"); };
    table.push_back(later);
    CompressOptions o;
    EXPECT_EQ(deltacodec::options_json(o, table), deltacodec::options_json(o));
    o.codec.meta_f32 = true;
    const nlohmann::json j = deltacodec::options_json(o, table);
    EXPECT_EQ(j.value("later", ""), "on");
    EXPECT_EQ(j.size(), deltacodec::options_json(o).size() + 1);
}
