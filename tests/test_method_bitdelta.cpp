// Method 3, bitdelta (src/methods/bitdelta.cpp): its records against a plain scalar
// reference encoder and decoder written here, through compress → apply/decompress
// and info, from the CLI, and hostile records refused with deltacodec::Error.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "format/header.hpp"
#include "io/checkpoint.hpp"
#include "method_testutil.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

// ---- the reference: FORMAT.md "BITDELTA", element by element -------------------

struct RefCode {
    uint64_t rows = 0, cols = 0;
    std::vector<float> scales;   // s_r = mean |Δ_r|, summed in double, rounded to f32
    std::vector<uint8_t> signs;  // bit j of row r (LSB-first, rows byte-aligned): Δ[r][j] < 0
    double err2 = 0, ref2 = 0;
};

RefCode ref_encode(const T& base, const T& ft) {
    RefCode c;
    c.rows = ft.shape.at(0);
    c.cols = ft.shape.at(1);
    const uint64_t rb = (c.cols + 7) / 8;
    const std::vector<double> b = decode(base.dtype, base.bytes.data(), c.rows * c.cols);
    const std::vector<double> f = decode(ft.dtype, ft.bytes.data(), c.rows * c.cols);
    c.scales.resize(c.rows);
    c.signs.assign(c.rows * rb, 0);
    for (uint64_t r = 0; r < c.rows; ++r) {
        std::vector<float> d(c.cols);
        double sum = 0;
        for (uint64_t j = 0; j < c.cols; ++j) {
            d[j] = static_cast<float>(f[r * c.cols + j]) - static_cast<float>(b[r * c.cols + j]);
            sum += std::fabs(d[j]);
        }
        const float s = static_cast<float>(sum / static_cast<double>(c.cols));
        c.scales[r] = s;
        for (uint64_t j = 0; j < c.cols; ++j) {
            const bool neg = d[j] < 0;
            if (neg) c.signs[r * rb + j / 8] |= static_cast<uint8_t>(1u << (j % 8));
            const double e = static_cast<double>(d[j]) - (neg ? -s : s);
            c.err2 += e * e;
            c.ref2 += static_cast<double>(d[j]) * d[j];
        }
    }
    return c;
}

// f32(base) + (sign bit ? −s_r : s_r) in f32, rounded to `dtype`.
std::vector<uint8_t> ref_decode(const T& base, DType dtype, const RefCode& c) {
    const uint64_t rb = (c.cols + 7) / 8;
    const std::vector<double> b = decode(base.dtype, base.bytes.data(), c.rows * c.cols);
    std::vector<double> out(c.rows * c.cols);
    for (uint64_t r = 0; r < c.rows; ++r)
        for (uint64_t j = 0; j < c.cols; ++j) {
            const bool neg = (c.signs[r * rb + j / 8] >> (j % 8)) & 1;
            out[r * c.cols + j] = static_cast<float>(b[r * c.cols + j]) + (neg ? -c.scales[r] : c.scales[r]);
        }
    return encode(dtype, out);
}

// ---- files -------------------------------------------------------------------------

// A TENSOR record, split: prefix, then bitdelta's fields (blobs as their bytes in the record).
struct Rec {
    TensorPrefix prefix;
    size_t body = 0;        // offset of the body (after the prefix)
    size_t scales_at = 0;   // offset of the scales blob's header
    size_t signs_at = 0;    // offset of the signs blob's header
    BlobRef scales, signs;  // pointing into the section's payload
};

Rec split(const std::vector<uint8_t>& p) {
    ByteReader r(p.data(), p.size(), "test");
    Rec rec;
    rec.prefix = read_prefix(r);
    rec.body = p.size() - r.remaining();
    r.u64();
    r.u8();
    rec.scales_at = p.size() - r.remaining();
    rec.scales = r.blob_ref();
    rec.signs_at = p.size() - r.remaining();
    rec.signs = r.blob_ref();
    r.expect_end();
    return rec;
}

class BitDelta : public MethodPair {
protected:
    void SetUp() override { make_pair(); }

    CompressReport make(const std::string& out, bool entropy = true) {
        CompressOptions o;
        o.method = "bitdelta";
        o.include = ".";  // every 2-D float tensor, however small
        o.entropy = entropy;
        o.overwrite = true;
        return compress(base_path, ft_path, out, o);
    }
};

}  // namespace

// The records hold exactly the reference's scales and signs, and apply() rebuilds
// exactly the reference's bytes (old code: no method 3; --method bitdelta refused).
TEST_F(BitDelta, RecordsAndRebuildMatchThePlainReference) {
    const CompressReport rep = make(dir / "bd.dcx", false);
    std::map<std::string, const TensorReport*> by_name;
    for (const TensorReport& t : rep.tensors) by_name[t.name] = &t;
    std::map<std::string, RefCode> refs;
    for (size_t i = 0; i + 1 < ft.size(); ++i) refs[ft[i].name] = ref_encode(base[i], ft[i]);
    size_t records = 0;
    for (const auto& [type, payload] : read_sections(dir / "bd.dcx")) {
        if (type != SectionType::TENSOR) continue;
        ByteReader pr(payload.data(), payload.size(), "test");
        const TensorPrefix pre = read_prefix(pr);
        if (pre.name == "norm.weight") {
            EXPECT_EQ(pre.method, MethodId::EXACT_DELTA);
            continue;
        }
        ASSERT_EQ(static_cast<unsigned>(pre.method), 3u) << pre.name;
        const Rec rec = split(payload);
        const RefCode& c = refs.at(pre.name);
        ASSERT_EQ(rec.scales.codec, 0) << "--entropy none stores blobs";
        ASSERT_EQ(rec.scales.raw, c.rows * 4);
        for (uint64_t r = 0; r < c.rows; ++r) {
            float s;
            std::memcpy(&s, rec.scales.src + 4 * r, 4);
            EXPECT_EQ(s, c.scales[r]) << pre.name << " row " << r;
        }
        ASSERT_EQ(rec.signs.raw, c.signs.size());
        EXPECT_TRUE(std::equal(c.signs.begin(), c.signs.end(), rec.signs.src)) << pre.name;
        const TensorReport& tr = *by_name.at(pre.name);
        EXPECT_EQ(tr.kind, "coded");
        EXPECT_EQ(tr.method, "bitdelta");
        EXPECT_NEAR(tr.err2, c.err2, 1e-12 * c.ref2) << pre.name;
        EXPECT_NEAR(tr.ref2, c.ref2, 1e-12 * c.ref2) << pre.name;
        ++records;
    }
    EXPECT_EQ(records, refs.size());

    // Rebuilt: the reference decoder's bytes, through apply() and decompress(), at 1 and 4 threads.
    for (const unsigned threads : {1u, 4u}) {
        MapSink sink;
        ApplyOptions ao;
        ao.threads = threads;
        apply(base_path, dir / "bd.dcx", sink, ao);
        for (size_t i = 0; i + 1 < ft.size(); ++i)
            EXPECT_EQ(sink.tensors.at(ft[i].name), ref_decode(base[i], ft[i].dtype, refs.at(ft[i].name)))
                << ft[i].name << " threads " << threads;
        EXPECT_EQ(sink.tensors.at("norm.weight"), ft.back().bytes);
    }
    // zstd changes the blobs' bytes, not what they hold.
    make(dir / "z.dcx");
    MapSink a, b;
    apply(base_path, dir / "bd.dcx", a);
    apply(base_path, dir / "z.dcx", b);
    EXPECT_EQ(a.tensors, b.tensors);
}

// A Gaussian delta: 1 bit/param plus at most 32 bits a row and the framing, and the relative error of
// sign + L2-optimal scale, sqrt(1 − 2/π) ≈ 0.603.
TEST_F(BitDelta, GaussianDeltaCostsOneBitPerParam) {
    const uint64_t rows = 256, cols = 1024;
    const std::vector<double> v = gaussian(rows * cols, 0.05, 7), d = gaussian(rows * cols, 0.001, 8);
    std::vector<double> w(v.size());
    for (size_t i = 0; i < v.size(); ++i) w[i] = v[i] + d[i];
    write_safetensors(base_path, {make_tensor("layer.w", DType::F32, {rows, cols}, v)});
    write_safetensors(ft_path, {make_tensor("layer.w", DType::F32, {rows, cols}, w)});
    const CompressReport rep = make(dir / "g.dcx");
    ASSERT_EQ(rep.tensors.size(), 1u);
    const TensorReport& t = rep.tensors[0];
    std::printf("bitdelta on a %llux%llu Gaussian delta: %.4f bit/param, rel. error %.4f\n",
                static_cast<unsigned long long>(rows), static_cast<unsigned long long>(cols), t.bits_per_param(),
                t.rel_error());
    EXPECT_EQ(t.method, "bitdelta");
    EXPECT_GT(t.bits_per_param(), 1.0);  // sign bits do not compress; the scales a little
    EXPECT_LT(t.bits_per_param(), 1.0 + 32.0 / cols + 0.005);
    EXPECT_NEAR(t.rel_error(), std::sqrt(1 - 2 / M_PI), 0.01);
}

// info names the method, verifies the blobs, and counts bitdelta tensors as coded.
TEST_F(BitDelta, InfoDescribesTheRecords) {
    const CompressReport rep = make(dir / "bd.dcx");
    const DcxInfo in = info(dir / "bd.dcx");
    EXPECT_EQ(in.count("coded"), ft.size() - 1);
    for (const DcxTensor& t : in.tensors) EXPECT_EQ(t.method, t.name == "norm.weight" ? "exact_delta" : "bitdelta");
    const json j = json::parse(in.to_json());
    EXPECT_EQ(j["tensors"][0]["method"], "bitdelta");
    EXPECT_EQ(j["options"]["method"], "bitdelta");
    EXPECT_FALSE(j["options"].contains("patch")) << "the patch coder's options are not recorded for bitdelta";
    EXPECT_NEAR(in.rel_error, rep.rel_error(), 1e-12);
}

// A delta holding NaN or infinity is not bitdelta's: the tensor falls back to exact.
TEST_F(BitDelta, NonFiniteDeltaFallsBackToExact) {
    CompressOptions o;
    o.method = "bitdelta";
    expect_non_finite_falls_back(std::numeric_limits<double>::infinity(), o);
}

// `--method bitdelta` from the CLI: compress, info, decompress; the patch coder's
// options are refused with it (a usage error, exit 2).
TEST_F(BitDelta, WorksFromTheCli) {
    const RunResult c = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "cli.dcx", "--method", "bitdelta", "--include", "."}, dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    EXPECT_NE(c.out.find(": bitdelta"), std::string::npos) << c.out;
    const RunResult i = run_cli({"info", "--json", dir / "cli.dcx"}, dir.path());
    ASSERT_EQ(i.rc, 0) << i.err;
    EXPECT_EQ(json::parse(i.out)["tensors"][1]["method"], "bitdelta");
    const RunResult d = run_cli({"decompress", base_path, dir / "cli.dcx", "-o", dir / "out.safetensors"}, dir.path());
    ASSERT_EQ(d.rc, 0) << d.err;
    make(dir / "lib.dcx");
    EXPECT_EQ(read_bytes(dir / "cli.dcx"), read_bytes(dir / "lib.dcx"));
    MapSink sink;
    apply(base_path, dir / "lib.dcx", sink);
    const std::string st = dir / "out.safetensors";
    const Checkpoint out = Checkpoint::open(st);
    for (const auto& [name, bytes] : sink.tensors) {
        const TensorRef* t = out.find(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), t->data())) << name;
    }
    const RunResult bad = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "bitdelta", "--bits", "2:1"}, dir.path());
    EXPECT_EQ(bad.rc, 2) << bad.err;
    EXPECT_NE(bad.err.find("--bits 2:1 applies to --method dct|dwt|db2|db4|cdf97 only"), std::string::npos) << bad.err;
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}

// Hostile records: each refused by info and by apply with an Error naming the tensor.
TEST_F(BitDelta, CorruptRecordsAreRefused) {
    make(dir / "bd.dcx", false);
    const Sections good = read_sections(dir / "bd.dcx");
    size_t at = 0;  // the first tensor's record: a.f32, 64 x 100 (padding: 4 bits a row)
    while (good[at].first != SectionType::TENSOR) ++at;
    const std::vector<uint8_t>& p0 = good[at].second;
    const Rec rec = split(p0);
    ASSERT_EQ(rec.prefix.name, "a.f32");
    const size_t scales = rec.scales_at + kBlobHeaderBytes, signs = rec.signs_at + kBlobHeaderBytes;
    std::vector<HostileCase> cases;
    auto add = [&](std::string what, std::string expect, auto edit) {
        std::vector<uint8_t> p = p0;
        edit(p);
        cases.push_back({std::move(what), std::move(expect), std::move(p)});
    };
    add("truncated", "truncated or corrupt record", [](std::vector<uint8_t>& p) { p.pop_back(); });
    add("cut after the scales", "truncated or corrupt record", [&](std::vector<uint8_t>& p) { p.resize(signs - 5); });
    add("bad base dtype", "bad base dtype", [&](std::vector<uint8_t>& p) { p[rec.body + 8] = 7; });
    add("scales one row short", "scales blob is not 4 bytes per row", [&](std::vector<uint8_t>& p) {
        put_u64(p, rec.scales_at + 1, 63 * 4);
        put_u64(p, rec.scales_at + 9, 63 * 4);
        p.erase(p.begin() + scales, p.begin() + scales + 4);
    });
    add("signs one byte long", "signs blob is not ceil(cols/8) bytes per row", [&](std::vector<uint8_t>& p) {
        put_u64(p, rec.signs_at + 1, rec.signs.raw + 1);
        put_u64(p, rec.signs_at + 9, rec.signs.raw + 1);
        p.push_back(0);
    });
    add("NaN scale", "scale of row 5", [&](std::vector<uint8_t>& p) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(&p[scales + 5 * 4], &nan, 4);
    });
    add("negative scale", "scale of row 0", [&](std::vector<uint8_t>& p) { p[scales + 3] |= 0x80; });
    add("padding bits", "padding bits set in the signs of row 2", [&](std::vector<uint8_t>& p) {
        p[signs + 2 * 13 + 12] |= 0x80;  // 100 columns: 13 bytes a row, 4 bits used in the last
    });
    expect_refused(good, at, cases, dir, base_path, "a.f32");
}

// Random damage to bitdelta records (checksums repaired): every mutant decodes or
// is refused with an Error; nothing else.
TEST_F(BitDelta, MutatedRecordsDecodeOrAreRefused) {
    make(dir / "bd.dcx");
    const Sections good = read_sections(dir / "bd.dcx");
    const int refused = mutants_refused(
        good, 3, [](const std::vector<uint8_t>& p) { return split(p).body; }, 150, dir, base_path);
    EXPECT_GT(refused, 0);
}
