// Rate control (issue 10 item 4): compress --bpp X / --ratio R lands the file
// within 2% of its target (never over), picks per tensor the method and point,
// refuses what cannot be met, and the options are checked and recorded.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "deltacodec/deltacodec.hpp"
#include "io/checkpoint.hpp"
#include "pipeline/sample.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

// A small model whose tensors differ in how much they changed (so the allocator
// has a choice to make): 64 coded F16 tensors of 128×256 with delta scales over
// two decades (many tensors, as a real model has: each rate step of one is a
// small part of the file), a norm vector and a small embedding (both kept
// losslessly).
struct Pair {
    TempDir dir;
    std::string base, ft;
    uint64_t params = 0, bytes = 0;
    Pair(bool nan_tensor = false) {
        std::vector<T> b, f;
        for (int i = 0; i < 64; ++i) {
            const std::string name = "l" + std::to_string(i) + ".w";
            const auto v = gaussian(128 * 256, 0.02, 100 + i);
            const double sigma = 0.0004 * std::pow(10.0, (i % 5) / 2.0);
            auto w = perturb(v, 128, 256, sigma, 200 + i);
            if (nan_tensor && i == 3) w[77] = NAN;
            b.push_back(make_tensor(name, DType::F16, {128, 256}, v));
            f.push_back(make_tensor(name, DType::F16, {128, 256}, w));
        }
        const auto n = gaussian(256, 1, 5);
        b.push_back(make_tensor("norm.weight", DType::F16, {256}, n));
        f.push_back(make_tensor("norm.weight", DType::F16, {256}, perturb(n, 1, 256, 0.01, 6)));
        const auto e = gaussian(4 * 256, 0.02, 7);
        b.push_back(make_tensor("embed.weight", DType::F16, {4, 256}, e));
        f.push_back(make_tensor("embed.weight", DType::F16, {4, 256}, perturb(e, 4, 256, 0.001, 8)));
        for (const T& t : f) params += numel(t.shape), bytes += t.bytes.size();
        base = dir / "base.safetensors";
        ft = dir / "ft.safetensors";
        write_safetensors(base, b);
        write_safetensors(ft, f);
    }
};

bool coded_name(const std::string& n) { return n.size() > 2 && n[0] == 'l' && n.back() == 'w'; }

CompressOptions target(double bpp, double ratio = 0) {
    CompressOptions o;
    o.codec.patch = 16;
    o.bpp = bpp;
    o.ratio = ratio;
    o.threads = 2;
    o.overwrite = true;
    return o;
}

// The rebuilt fine-tune's ‖Δ̂ − Δ‖² over the coded tensors, from the files.
double rebuilt_err2(const Pair& p, const std::string& dcx) {
    struct Sink : TensorSink {
        std::vector<uint8_t> cur;
        std::map<std::string, std::vector<uint8_t>> out;
        std::string name;
        void begin(const std::string& n, DType, const Shape&, uint64_t) override { name = n, cur.clear(); }
        void write(const uint8_t* d, size_t n) override { cur.insert(cur.end(), d, d + n); }
        void end() override { out[name] = cur; }
    } sink;
    apply(p.base, dcx, sink);
    const Checkpoint ft = Checkpoint::open(p.ft);
    double e = 0;
    for (const TensorRef& tr : ft.tensors()) {
        const TensorInfo& t = *tr.info;
        if (t.shape.size() != 2 || !coded_name(t.name)) continue;
        const auto f = decode(t.dtype, tr.data(), t.numel());
        const auto r = decode(t.dtype, sink.out.at(t.name).data(), t.numel());
        for (uint64_t i = 0; i < t.numel(); ++i) e += (r[i] - f[i]) * (r[i] - f[i]);
    }
    return e;
}

}  // namespace

// Caught on the old code: --bpp did not exist, and compress wrote the fixed
// allocation's size whatever was asked.
TEST(RateControl, LandsWithinTwoPercentOfEveryTargetNeverOver) {
    const Pair p;
    double last_err = INFINITY;
    for (double bpp : {0.125, 0.5, 2.0}) {
        const std::string out = p.dir / "t.dcx";
        const CompressReport r = compress(p.base, p.ft, out, target(bpp));
        const uint64_t want = static_cast<uint64_t>(bpp * p.params / 8);
        EXPECT_EQ(r.target_bytes, want);
        EXPECT_EQ(r.dcx_bytes, fs::file_size(out));
        EXPECT_LE(r.dcx_bytes, want) << bpp;
        EXPECT_GE(r.dcx_bytes, 0.98 * want) << bpp;
        EXPECT_TRUE(r.warnings.empty()) << r.warnings.at(0);
        EXPECT_NEAR(r.bits_per_param_all(), bpp, 0.02 * bpp);
        // More bytes, less error; and the report's error is the rebuilt one.
        EXPECT_LT(r.rel_error(), last_err) << bpp;
        last_err = r.rel_error();
        double ref = 0, err = 0;
        for (const TensorReport& t : r.tensors)
            if (coded_name(t.name)) ref += t.ref2, err += t.err2;
        EXPECT_NEAR(rebuilt_err2(p, out), err, 1e-6 * ref + 1e-3 * err) << bpp;
        const json j = json::parse(r.to_json(target(bpp)));
        EXPECT_EQ(j["summary"]["target"]["bpp"], bpp);
        EXPECT_EQ(j["summary"]["target"]["bytes"], want);
    }
    // A ratio: Σ params × dtype size / file bytes.
    const CompressReport r = compress(p.base, p.ft, p.dir / "r.dcx", target(0, 20));
    EXPECT_EQ(r.target_bytes, p.bytes / 20);
    EXPECT_LE(r.dcx_bytes, r.target_bytes);
    EXPECT_GE(r.dcx_bytes, 0.98 * r.target_bytes);
    EXPECT_GE(r.ratio(), 20.0);
    EXPECT_LE(r.ratio(), 20.0 / 0.98);
}

// The allocator spends bytes where they buy the most: at the size of the fixed
// default allocation, rate control's error is lower; and the tensors that changed
// little get fewer bytes per parameter than those that changed much.
TEST(RateControl, BeatsTheFixedAllocationAtTheSameSize) {
    const Pair p;
    CompressOptions fixed = target(0);
    const CompressReport f = compress(p.base, p.ft, p.dir / "f.dcx", fixed);
    const CompressReport r = compress(p.base, p.ft, p.dir / "r.dcx", target(f.bits_per_param_all()));
    EXPECT_LE(r.dcx_bytes, f.dcx_bytes + f.dcx_bytes / 50);
    EXPECT_LT(r.rel_error(), 0.8 * f.rel_error()) << r.rel_error() << " vs " << f.rel_error();
    std::set<std::string> methods, kinds;
    for (const TensorReport& t : r.tensors) methods.insert(t.method), kinds.insert(t.kind);
    EXPECT_TRUE(kinds.count("coded"));          // a lossy method (patch, or svdmix/hybrid where they win)
    EXPECT_TRUE(methods.count("exact_delta"));  // the norm and the embedding
}

TEST(RateControl, SameBytesAtEveryThreadCountAndInfoShowsTheTarget) {
    const Pair p;
    CompressOptions a = target(0.5), b = target(0.5);
    a.threads = 1;
    b.threads = 4;
    compress(p.base, p.ft, p.dir / "a.dcx", a);
    compress(p.base, p.ft, p.dir / "b.dcx", b);
    EXPECT_EQ(read_bytes(p.dir / "a.dcx"), read_bytes(p.dir / "b.dcx"));
    const DcxInfo in = info(p.dir / "a.dcx");
    EXPECT_NE(in.options_cli().find("--bpp 0.5"), std::string::npos) << in.options_cli();
    // Under a target, no --method offers every lossy method, and the file says so.
    EXPECT_NE(in.options_cli().find("--method dwt,bitdelta"), std::string::npos) << in.options_cli();
    const RunResult r = run_cli({"info", p.dir / "a.dcx"}, p.dir.path());
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_NE(r.out.find("methods    "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("exact_delta 2"), std::string::npos) << r.out;  // the norm and the embedding
    // The options info prints give the same file again.
    const RunResult c =
        run_cli({"compress", p.base, p.ft, "-o", p.dir / "c.dcx", "-q", "--patch", "16", "--bpp", "0.5"}, p.dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    EXPECT_EQ(read_bytes(p.dir / "c.dcx"), read_bytes(p.dir / "a.dcx"));
}

// A target below the cheapest choice of every tensor is refused (no file); one
// above lossless writes the lossless file and says so.
TEST(RateControl, UnreachableTargetsAreRefusedOrWarned) {
    const Pair p;
    try {
        compress(p.base, p.ft, p.dir / "x.dcx", target(0.001));
        ADD_FAILURE() << "took a target below the smallest file";
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::OPTION);
        EXPECT_NE(std::string(e.what()).find("--bpp 0.001 is below the smallest .dcx these tensors make"),
                  std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.api_message()).find("bpp=0.001 is below"), std::string::npos) << e.api_message();
    }
    EXPECT_FALSE(fs::exists(p.dir / "x.dcx"));
    const CompressReport r = compress(p.base, p.ft, p.dir / "l.dcx", target(30));
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_NE(r.warnings[0].find("above what storing every tensor losslessly takes"), std::string::npos);
    EXPECT_EQ(r.rel_error(), 0.0);
    EXPECT_LT(r.dcx_bytes, r.target_bytes);
    const RunResult c =
        run_cli({"compress", p.base, p.ft, "-o", p.dir / "w.dcx", "--bpp", "30", "--patch", "16"}, p.dir.path());
    EXPECT_EQ(c.rc, 0) << c.err;
    EXPECT_NE(c.err.find("deltacodec: warning: --bpp 30 is above"), std::string::npos) << c.err;
    EXPECT_NE(c.out.find("target      --bpp 30"), std::string::npos) << c.out;
}

// A tensor whose delta holds NaN: the lossy methods decline it in analyse, the
// lossless delta stores it, and the target still holds.
TEST(RateControl, NonFiniteTensorIsStoredLosslesslyWithinTheTarget) {
    const Pair p(true);
    const CompressReport r = compress(p.base, p.ft, p.dir / "n.dcx", target(2));
    EXPECT_LE(r.dcx_bytes, r.target_bytes);
    EXPECT_GE(r.dcx_bytes, 0.98 * r.target_bytes);
    for (const TensorReport& t : r.tensors) {
        if (t.name == "l3.w") {
            EXPECT_EQ(t.method, "exact_delta");
        }
    }
}

TEST(RateControl, OptionsAreCheckedAndExclusive) {
    const Pair p;
    auto refused = [&](std::vector<std::string> args, const std::string& what) {
        std::vector<std::string> a = {"compress", p.base, p.ft, "-o", p.dir / "x.dcx"};
        a.insert(a.end(), args.begin(), args.end());
        const RunResult r = run_cli(a, p.dir.path());
        EXPECT_EQ(r.rc, 2) << r.err;
        EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(p.dir / "x.dcx"));
    };
    refused({"--bpp", "0.5", "--ratio", "10"}, "--bpp and --ratio are two targets");
    refused({"--bpp", "-1"}, "--bpp '-1' is out of range");
    refused({"--bpp", "nan"}, "--bpp 'nan' is not a number");
    refused({"--bpp", "1e9"}, "is out of range");
    refused({"--ratio", "inf"}, "--ratio 'inf' is not a number");
    refused({"--ratio", "0.1"}, "is out of range");
    refused({"--bpp", "1", "--bits", "2:1"}, "--bits 2:1 cannot be combined with a rate target");
    // A list of methods: only under a target, each once.
    refused({"--method", "dct,bitdelta"}, "--method 'dct,bitdelta' names several methods, which needs a rate target");
    refused({"--bpp", "1", "--method", "dct,dwt"}, "names the method 'patch' twice");
    refused({"--bpp", "1", "--method", "dct,nosuch"}, "--method 'dct,nosuch' is not one of");
    const RunResult ok = run_cli({"compress", p.base, p.ft, "-o", p.dir / "y.dcx", "-q", "--bpp", "1.5", "--method",
                                  "bitdelta,dct", "--patch", "16"},
                                 p.dir.path());
    EXPECT_EQ(ok.rc, 0) << ok.err;
    EXPECT_NE(info(p.dir / "y.dcx").options_cli().find("--method dct,bitdelta"), std::string::npos);
    // Set in the struct: the same checks.
    CompressOptions o = target(0.5, 10);
    EXPECT_THROW(compress(p.base, p.ft, p.dir / "x.dcx", o), Error);
    o = target(-2);
    EXPECT_THROW(compress(p.base, p.ft, p.dir / "x.dcx", o), Error);
    EXPECT_FALSE(fs::exists(p.dir / "x.dcx"));
}

// bitdelta under a target: its one point, measured, offered beside lossless.
TEST(RateControl, NamedMethodIsTheOnlyLossyOne) {
    const Pair p;
    CompressOptions o = target(2);
    o.method = "bitdelta";
    const CompressReport r = compress(p.base, p.ft, p.dir / "b.dcx", o);
    EXPECT_LE(r.dcx_bytes, r.target_bytes);
    size_t bd = 0;
    for (const TensorReport& t : r.tensors) {
        EXPECT_NE(t.method, "patch") << t.name;
        bd += t.method == "bitdelta";
    }
    EXPECT_GT(bd, 0u);
}

// The distortion weight: plain squared error spends little on the tensors that
// changed little (dropped: relative error 1); weighting each tensor by 1/‖Δ‖²
// makes relative errors count alike, so fewer tensors are left dropped.
TEST(RateControl, DistortionWeightChangesWhereTheBytesGo) {
    const Pair p;
    auto dropped = [](const CompressReport& r) {
        int n = 0;
        for (const TensorReport& t : r.tensors) n += coded_name(t.name) && t.kind == "coded" && t.rel_error() >= 0.999;
        return n;
    };
    CompressOptions o = target(0.5);
    const CompressReport plain = compress(p.base, p.ft, p.dir / "a.dcx", o);
    o.rd_weight = RdWeight::DELTA;
    const CompressReport rel = compress(p.base, p.ft, p.dir / "b.dcx", o);
    EXPECT_LE(rel.dcx_bytes, rel.target_bytes);
    EXPECT_GT(dropped(plain), 0);
    EXPECT_LT(dropped(rel), dropped(plain));
    EXPECT_GT(rel.rel_error(), plain.rel_error());  // the plain sum is what `none` minimises
    EXPECT_NE(info(p.dir / "b.dcx").options_cli().find("--rd-weight delta"), std::string::npos);
    o.rd_weight = RdWeight::BASE;
    EXPECT_LE(compress(p.base, p.ft, p.dir / "c.dcx", o).dcx_bytes, rel.target_bytes);
    // Without a target it means nothing: refused.
    const RunResult r = run_cli({"compress", p.base, p.ft, "-o", p.dir / "x.dcx", "--rd-weight", "base"}, p.dir.path());
    EXPECT_EQ(r.rc, 2) << r.err;
    EXPECT_NE(r.err.find("--rd-weight base needs a rate target"), std::string::npos) << r.err;
}

// Large tensors (issue 10's speed at a target): their points are estimated from a
// sample of their rows, scaled, and corrected as the records are written. The row
// groups are spread over the tensor and aligned to the group height; a tensor
// below the threshold, or one whose sample would be a quarter of it, is whole.
TEST(RateControl, SampleRowsAreSpreadAlignedAndOnlyForLargeTensors) {
    EXPECT_TRUE(sample_rows(1024, 1024, 1).empty());  // 2^20 elements: measured whole
    EXPECT_TRUE(sample_rows(0, 1 << 24, 1).empty());
    EXPECT_TRUE(sample_rows(100, 1 << 20, 16).empty());  // 8 groups of 16 rows > a quarter of 100
    const std::vector<uint64_t> r = sample_rows(4096, 11008, 64);
    ASSERT_EQ(r.size(), kSampleMinGroups * 64);  // 8 groups: at least 2^20 elements
    for (size_t g = 0; g < kSampleMinGroups; ++g) {
        EXPECT_EQ(r[g * 64] % 64, 0u);
        EXPECT_EQ(r[g * 64], 4096 * g / kSampleMinGroups);
        for (size_t i = 1; i < 64; ++i) EXPECT_EQ(r[g * 64 + i], r[g * 64] + i);
    }
    const std::vector<uint64_t> one = sample_rows(32000, 4096, 1);
    EXPECT_EQ(one.size(), 256u);  // 2^20 / 4096 rows, one each
    EXPECT_EQ(one.back(), 32000u * 255 / 256);
}

TEST(RateControl, SampledTensorsStillLandWithinTwoPercentNeverOver) {
    TempDir dir;
    std::vector<T> b, f;
    uint64_t params = 0;
    // Three large tensors (sampled) whose deltas differ in scale and in structure
    // across rows (the sample must see both halves), and small ones (measured whole).
    for (int i = 0; i < 3; ++i) {
        const std::string name = "big" + std::to_string(i) + ".w";
        const auto v = gaussian(2048 * 2048, 0.02, 300 + i);
        auto w = perturb(v, 2048, 2048, 0.0005 * (1 + 3 * i), 400 + i);
        for (size_t k = 0; k < w.size() / 2; ++k) w[k] += (w[k] - v[k]) * 2;  // top half moved 3×
        b.push_back(make_tensor(name, DType::F16, {2048, 2048}, v));
        f.push_back(make_tensor(name, DType::F16, {2048, 2048}, w));
    }
    for (int i = 0; i < 8; ++i) {
        const std::string name = "small" + std::to_string(i) + ".w";
        const auto v = gaussian(128 * 256, 0.02, 500 + i);
        b.push_back(make_tensor(name, DType::F16, {128, 256}, v));
        f.push_back(make_tensor(name, DType::F16, {128, 256}, perturb(v, 128, 256, 0.001, 600 + i)));
    }
    for (const T& t : f) params += numel(t.shape);
    write_safetensors(dir / "b.safetensors", b);
    write_safetensors(dir / "f.safetensors", f);
    double last = INFINITY;
    for (double bpp : {0.25, 1.0, 3.0}) {
        CompressOptions o = target(bpp);
        o.codec.patch = 64;
        o.method = "patch,ecsq,bitdelta";  // lowrank is analysed whole (not row-separable)
        const CompressReport r = compress(dir / "b.safetensors", dir / "f.safetensors", dir / "t.dcx", o);
        const uint64_t want = static_cast<uint64_t>(bpp * static_cast<double>(params) / 8);
        EXPECT_EQ(r.target_sampled, 3u) << bpp;
        EXPECT_LE(r.dcx_bytes, want) << bpp;
        EXPECT_GE(r.dcx_bytes, 0.98 * static_cast<double>(want)) << bpp;
        EXPECT_TRUE(r.warnings.empty()) << bpp << ": " << r.warnings.at(0);
        EXPECT_LT(r.rel_error(), last) << bpp;
        last = r.rel_error();
        const json j = json::parse(r.to_json(o));
        EXPECT_EQ(j["summary"]["target"]["sampled_tensors"], 3);
    }
}
