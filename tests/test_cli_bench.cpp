// `deltacodec bench`: its table is real compress runs (the same bytes as a
// compress with those options), it leaves nothing in the temporary directory, and
// it refuses bad lists and existing outputs before doing any work.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "deltacodec/deltacodec.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

ModelPair bench_pair(const TempDir& dir) {
    std::vector<T> base, ft;
    for (int i = 0; i < 2; ++i) {
        const std::string name = "layer." + std::to_string(i) + ".mlp.weight";
        const auto b = gaussian(128 * 128, 0.05, 11 + i);
        base.push_back(make_tensor(name, DType::F16, {128, 128}, b));
        ft.push_back(make_tensor(name, DType::F16, {128, 128}, perturb(b, 128, 128, 0.004, 21 + i)));
    }
    base.push_back(make_tensor("norm.weight", DType::F32, {128}, gaussian(128, 1, 3)));
    ft.push_back(make_tensor("norm.weight", DType::F32, {128}, gaussian(128, 1, 4)));
    ModelPair p{dir / "base.safetensors", dir / "ft.safetensors", ""};
    write_safetensors(p.base, base);
    write_safetensors(p.ft, ft);
    return p;
}

RunResult run_bench(const std::string& tmpdir, const std::vector<std::string>& args, const std::string& scratch) {
    std::string cmd = "TMPDIR=" + shell_quote(tmpdir) + " " + shell_quote(DELTACODEC_CLI) + " bench";
    for (const std::string& a : args) cmd += " " + shell_quote(a);
    return run_command(cmd, scratch);
}

}  // namespace

TEST(CliBench, RowsAreRealCompressRunsAndNothingIsLeftBehind) {
    TempDir dir, tmp;
    const ModelPair p = bench_pair(dir);
    const std::string js = dir / "rd.json", svg = dir / "rd.svg";
    const RunResult r = run_bench(
        tmp.path(), {p.base, p.ft, "--methods", "bitdelta,dct", "--bpp", "4,3,0.01", "--json", js, "--plot", svg},
        dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("bitdelta"), std::string::npos) << r.out;
    EXPECT_TRUE(dir_entries(tmp.path()).empty()) << "bench left files in TMPDIR";

    const json j = json::parse(read_text(js));
    ASSERT_EQ(j["rows"].size(), 4u);
    // 0.01 bit/param is below this small pair's smallest file: a skipped row, not a failure.
    ASSERT_EQ(j["skipped"].size(), 2u);
    EXPECT_NE(j["skipped"][0]["reason"].get<std::string>().find("below the smallest"), std::string::npos);
    EXPECT_NE(r.out.find("not reached"), std::string::npos) << r.out;
    for (const json& row : j["rows"]) {
        CompressOptions o;
        set_options(o, {{find_option_by_keyword("method"), row["method"].get<std::string>()}});
        o.bpp = row["target_bpp"].get<double>();
        const CompressReport rep = compress(p.base, p.ft, dir / "check.dcx", o);
        EXPECT_EQ(row["dcx_bytes"].get<uint64_t>(), rep.dcx_bytes) << row.dump();
        EXPECT_EQ(row["dcx_bytes"].get<uint64_t>(), fs::file_size(dir / "check.dcx"));
        EXPECT_DOUBLE_EQ(row["rel_error"].get<double>(), rep.rel_error());
        EXPECT_GT(row["rel_error"].get<double>(), 0.0);
        EXPECT_NEAR(row["snr_db"].get<double>(), -20 * std::log10(rep.rel_error()), 1e-9);
        EXPECT_GT(row["rebuild_s"].get<double>(), 0.0);
        fs::remove(dir / "check.dcx");
    }
    const std::string plot = read_text(svg);
    EXPECT_EQ(plot.rfind("<svg", 0), 0u);
    EXPECT_NE(plot.find(">bitdelta</text>"), std::string::npos);
    EXPECT_NE(plot.find(">dct</text>"), std::string::npos);
    EXPECT_NE(plot.find("</svg>"), std::string::npos);
}

TEST(CliBench, BadListsAreUsageErrorsAndOutputsAreNotReplacedWithoutForce) {
    TempDir dir, tmp;
    const ModelPair p = bench_pair(dir);
    for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
             {"--bpp", "0"}, {"--bpp", "1,x"}, {"--bpp", ","}, {"--methods", "nosuch"}, {"--methods", ","}}) {
        std::vector<std::string> a = {p.base, p.ft};
        a.insert(a.end(), bad.begin(), bad.end());
        const RunResult r = run_bench(tmp.path(), a, dir.path());
        EXPECT_EQ(r.rc, 2) << bad[0] << " " << bad[1] << ": " << r.err;
        EXPECT_NE(r.err.find(bad[0]), std::string::npos) << r.err;
    }
    const std::string js = dir / "keep.json";
    write_text(js, "mine");
    RunResult r =
        run_bench(tmp.path(), {p.base, p.ft, "--methods", "bitdelta", "--bpp", "4", "--json", js}, dir.path());
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find("use -f"), std::string::npos) << r.err;
    EXPECT_EQ(r.out, "") << "no run may start when the output is refused";
    EXPECT_EQ(read_text(js), "mine");
    r = run_bench(tmp.path(), {p.base, p.ft, "--methods", "bitdelta", "--bpp", "4", "--json", js, "-f", "-q"},
                  dir.path());
    EXPECT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(json::parse(read_text(js))["rows"].size(), 1u);
    EXPECT_TRUE(dir_entries(tmp.path()).empty());
    // Never an input, even with -f.
    const std::string before = read_text(p.base);
    r = run_bench(tmp.path(), {p.base, p.ft, "--methods", "bitdelta", "--bpp", "4", "--plot", p.base, "-f"},
                  dir.path());
    EXPECT_EQ(r.rc, 1) << r.err;
    EXPECT_NE(r.err.find("is an input"), std::string::npos) << r.err;
    EXPECT_EQ(read_text(p.base), before);
}

// --patch and --levels are compress's own option rows: each run takes those that apply
// to its method (the same bytes as that compress), a bad value or combination is a usage
// error, and a value that applies to none of the methods benchmarked is refused.
TEST(CliBench, PatchAndLevelsAreCompressOptions) {
    TempDir dir, tmp;
    const ModelPair p = bench_pair(dir);
    const std::string js = dir / "rd.json";
    RunResult r = run_bench(
        tmp.path(),
        {p.base, p.ft, "--methods", "db4,bitdelta", "--bpp", "3", "--patch", "32", "--levels", "2", "--json", js},
        dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    const json j = json::parse(read_text(js));
    ASSERT_EQ(j["rows"].size(), 2u);
    for (const json& row : j["rows"]) {
        const std::string m = row["method"].get<std::string>();
        CompressOptions o;
        if (m == "db4")
            set_options(o, {{find_option_by_keyword("method"), m},
                            {find_option_by_keyword("patch"), "32"},
                            {find_option_by_keyword("levels"), "2"}});
        else
            set_options(o, {{find_option_by_keyword("method"), m}});
        o.bpp = 3;
        const CompressReport rep = compress(p.base, p.ft, dir / "check.dcx", o);
        EXPECT_EQ(row["dcx_bytes"].get<uint64_t>(), rep.dcx_bytes) << row.dump();
        int coded = 0;
        for (const DcxTensor& t : info(dir / "check.dcx").tensors)
            if (!t.transform.empty()) {
                EXPECT_EQ(t.transform, "db4");
                EXPECT_EQ(t.patch, 32);
                EXPECT_EQ(t.levels, 2);
                ++coded;
            }
        EXPECT_EQ(coded > 0, m == "db4") << row.dump();
        fs::remove(dir / "check.dcx");
    }
    for (const auto& [bad, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
             {{"--methods", "dct", "--patch", "12"}, "--patch '12'"},
             {{"--methods", "db2", "--patch", "8", "--levels", "3"}, "does not fit patch size 8"},
             {{"--methods", "dct,bitdelta", "--levels", "2"}, "--levels 2 applies to"}}) {
        std::vector<std::string> a = {p.base, p.ft, "--bpp", "3"};
        a.insert(a.end(), bad.begin(), bad.end());
        r = run_bench(tmp.path(), a, dir.path());
        EXPECT_EQ(r.rc, 2) << says << ": " << r.err;
        EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
        EXPECT_EQ(r.out, "") << "no run may start on a usage error";
    }
}
