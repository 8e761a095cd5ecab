// Method 4, ecsq (src/methods/ecsq.cpp): its records against a plain reference of
// its quantizer and decoder written here (FORMAT.md "ECSQ", element by element, the
// streams through rans::decode_ref), analyse()'s ladder against what encode()
// writes, through compress → apply/decompress and info, from the CLI, and hostile
// records refused with deltacodec::Error.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>

#include "codec/rans.hpp"
#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "format/header.hpp"
#include "io/checkpoint.hpp"
#include "io/parallel.hpp"
#include "method_testutil.hpp"
#include "methods/method.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

// ---- a record, read field by field (FORMAT.md "ECSQ") ------------------------------

struct Rec {
    TensorPrefix prefix;
    size_t body = 0;  // offset of the body (after the prefix)
    size_t step_at = 0, gain_at = 0, k_at = 0, rpc_at = 0, table_at = 0, index_at = 0, blob_at = 0;
    float step = 0, gain = 0;
    std::vector<float> offsets;
    uint32_t rpc = 0;
    rans::Table table;
    std::vector<uint64_t> lens;
    BlobRef blob;
};

Rec split(const std::vector<uint8_t>& p) {
    ByteReader r(p.data(), p.size(), "test");
    Rec rec;
    auto at = [&] { return p.size() - r.remaining(); };
    rec.prefix = read_prefix(r);
    rec.body = at();
    r.u64();
    r.u8();
    rec.step_at = at();
    rec.step = r.f32();
    rec.gain_at = at();
    rec.gain = r.f32();
    rec.k_at = at();
    const unsigned k = r.u8();
    for (unsigned i = 0; i < k; ++i) rec.offsets.push_back(r.f32());
    rec.rpc_at = at();
    rec.rpc = r.u32();
    rec.table_at = at();
    rec.table = rans::read_table(r);
    rec.index_at = at();
    const uint64_t rows = rec.prefix.shape.at(0);
    for (uint64_t c = 0; c < 2 * ((rows + rec.rpc - 1) / rec.rpc); ++c) rec.lens.push_back(r.u64());
    rec.blob_at = at();
    rec.blob = r.blob_ref();
    r.expect_end();
    return rec;
}

// The reference decoder (coded_method_testutil.hpp): q per element (row-major).
std::vector<int64_t> ref_symbols(const Rec& rec) {
    return ref_ecsq_symbols(rec.table, rec.lens, rec.blob.src, rec.prefix.shape.at(0), rec.prefix.shape.at(1), rec.rpc);
}

// The reference quantizer: |q| = ⌊|Δ|·(1/step) + 0.35⌋ in f32, the sign of Δ.
int64_t ref_q(float d, float step) {
    const float inv = 1.0f / step;
    const float a = std::fabs(d) * inv + 0.35f;
    const int64_t m = a >= 1073741824.0f ? int64_t{1} << 30 : static_cast<int64_t>(std::floor(a));
    return d < 0 ? -m : m;
}

float ref_value(int64_t q, const Rec& rec) {
    if (q == 0) return 0;
    const uint64_t m = static_cast<uint64_t>(std::llabs(q));
    const float v =
        (static_cast<float>(m) + rec.offsets[std::min<uint64_t>(m, rec.offsets.size()) - 1]) * rec.step * rec.gain;
    return q < 0 ? -v : v;
}

std::vector<uint8_t> ref_decode(const T& base, DType dtype, const Rec& rec, const std::vector<int64_t>& q) {
    const uint64_t n = q.size();
    const std::vector<double> b = decode(base.dtype, base.bytes.data(), n);
    std::vector<double> out(n);
    for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<float>(b[i]) + ref_value(q[i], rec);
    return encode(dtype, out);
}

// ---- files -------------------------------------------------------------------------


class Ecsq : public MethodPair {
protected:
    // The shared pair and a wide tensor (3000 columns: 87 rows a chunk, 3 chunks) with a few
    // outliers 300σ out: escapes at any step.
    void SetUp() override {
        make_pair({{"f.wide", DType::F32, DType::F32, 200, 3000}}, [](const std::string& name, std::vector<double>& w) {
            if (name == "f.wide")
                for (uint64_t i = 0; i < w.size(); i += 977) w[i] += (i % 2 ? 1.2 : -1.2);
        });
    }

    CompressReport make(const std::string& out, CompressOptions o = {}) {
        o.method = "ecsq";
        o.include = ".";
        o.overwrite = true;
        return compress(base_path, ft_path, out, o);
    }
};

}  // namespace

// The records hold the reference quantizer's symbols, the centroids as offsets, and
// apply() rebuilds exactly the reference decoder's bytes at 1 and 4 threads (old code:
// no method 4; --method ecsq refused).
TEST_F(Ecsq, RecordsAndRebuildMatchThePlainReference) {
    for (const bool projection : {false, true}) {
        CompressOptions o;
        o.ecsq_projection = projection;
        const CompressReport rep = make(dir / "e.dcx", o);
        std::map<std::string, const TensorReport*> by_name;
        for (const TensorReport& t : rep.tensors) by_name[t.name] = &t;
        std::map<std::string, std::vector<uint8_t>> want;
        size_t records = 0;
        for (const auto& [type, payload] : read_sections(dir / "e.dcx")) {
            if (type != SectionType::TENSOR || record_method(payload) != 4) continue;
            const Rec rec = split(payload);
            size_t i = 0;
            while (ft[i].name != rec.prefix.name) ++i;
            const std::vector<float> d = delta_of(base[i], ft[i]);
            const std::vector<int64_t> q = ref_symbols(rec);
            ASSERT_EQ(q.size(), d.size());
            ASSERT_EQ(rec.offsets.size(), 4u);
            EXPECT_EQ(rec.rpc,
                      std::min<uint64_t>(rec.prefix.shape[0], std::max<uint64_t>(1, (1 << 18) / rec.prefix.shape[1])));
            EXPECT_EQ(rec.blob.codec, 0);
            // Symbols: the reference quantizer at the record's step. Offsets: the centroids.
            double sum[4] = {}, cnt[4] = {}, err2 = 0, ref2 = 0, inner = 0, tilde_inner = 0;
            for (size_t j = 0; j < d.size(); ++j) {
                ASSERT_EQ(q[j], ref_q(d[j], rec.step)) << rec.prefix.name << " element " << j;
                if (q[j] == 0) continue;
                const uint64_t m = static_cast<uint64_t>(std::llabs(q[j]));
                const size_t k = std::min<uint64_t>(m, 4) - 1;
                sum[k] += static_cast<double>(std::fabs(d[j]) * (1.0f / rec.step)) - static_cast<double>(m);
                cnt[k] += 1;
            }
            for (size_t k = 0; k < 4; ++k)
                EXPECT_NEAR(rec.offsets[k], cnt[k] ? sum[k] / cnt[k] : 0, 1e-6) << rec.prefix.name << " k " << k;
            for (size_t j = 0; j < d.size(); ++j) {
                const double v = ref_value(q[j], rec), e = d[j] - v;
                err2 += e * e;
                ref2 += static_cast<double>(d[j]) * d[j];
                inner += v * d[j];
                tilde_inner += v / rec.gain * d[j];
            }
            if (projection && inner != 0) {
                EXPECT_NEAR(inner, ref2, 1e-5 * ref2) << rec.prefix.name << ": the projection is kept";
                EXPECT_GT(rec.gain, 1.0f) << rec.prefix.name;
            } else if (!projection) {
                EXPECT_EQ(rec.gain, 1.0f);
                EXPECT_LT(inner, ref2) << rec.prefix.name << ": least-error centroids shrink";
                (void)tilde_inner;
            }
            const TensorReport& tr = *by_name.at(rec.prefix.name);
            EXPECT_EQ(tr.kind, "coded");
            EXPECT_EQ(tr.method, "ecsq");
            EXPECT_NEAR(tr.err2, err2, 1e-9 * ref2) << rec.prefix.name;
            EXPECT_NEAR(tr.ref2, ref2, 1e-9 * ref2) << rec.prefix.name;
            want[rec.prefix.name] = ref_decode(base[i], ft[i].dtype, rec, q);
            ++records;
        }
        EXPECT_EQ(records, ft.size() - 1);
        for (const unsigned threads : {1u, 4u}) {
            MapSink sink;
            ApplyOptions ao;
            ao.threads = threads;
            apply(base_path, dir / "e.dcx", sink, ao);
            for (const auto& [name, bytes] : want)
                EXPECT_EQ(sink.tensors.at(name), bytes) << name << " threads " << threads;
            EXPECT_EQ(sink.tensors.at("norm.weight"), ft.back().bytes);
        }
    }
}

// The same bytes at 1 and 4 threads; --entropy none changes nothing (the streams are stored).
TEST_F(Ecsq, OutputDoesNotDependOnThreads) {
    expect_same_bytes_at_1_and_4_threads([&](const std::string& out, const CompressOptions& o) { make(out, o); }, dir);
}

// Under a rate target, analyse() gives a ladder of increasing bytes whose sizes are the
// payload encode() writes within 1% (16 bytes on tiny payloads) and whose err2 is encode()'s.
TEST_F(Ecsq, LadderPredictsTheEncodedSizeAndError) {
    const uint64_t rows = 256, cols = 1024;
    std::vector<double> v = gaussian(rows * cols, 0.05, 7), w = perturb(v, rows, cols, 0.001, 8);
    std::mt19937 rng(3);
    for (size_t i = 0; i < w.size(); i += 1 + rng() % 5000) w[i] += 0.02 * (rng() % 2 ? 1 : -1);  // tails
    write_safetensors(base_path, {make_tensor("w", DType::F32, {rows, cols}, v)});
    write_safetensors(ft_path, {make_tensor("w", DType::BF16, {rows, cols}, w)});
    const Checkpoint b = Checkpoint::open(base_path), f = Checkpoint::open(ft_path);
    TensorInput in;
    in.ft = f.find("w");
    in.base = b.find("w");
    const MethodTraits* m = find_method("ecsq");
    ASSERT_NE(m, nullptr);
    ASSERT_TRUE(m->applicable(in));
    ThreadPool pool(3);
    Scratch scratch;
    EncodeContext ec{pool, scratch};
    for (const bool projection : {false, true}) {
        CompressOptions o;
        o.bpp = 1;
        o.ecsq_projection = projection;
        const RdCurve c = m->analyse(in, o);
        ASSERT_GE(c.points.size(), 15u);
        double lo = 1e9, hi = 0;
        for (size_t i = 0; i < c.points.size(); ++i) {
            const RdPoint& p = c.points[i];
            if (i) {
                EXPECT_GT(p.bytes, c.points[i - 1].bytes);
            }
            ASSERT_TRUE(p.err2.has_value());
            const auto enc = m->encode(in, o, p, ec);
            ASSERT_TRUE(enc.has_value());
            ByteWriter wr;
            enc->write(wr);
            const double got = static_cast<double>(wr.buf.size()), bpp = got * 8 / (rows * cols);
            lo = std::min(lo, bpp), hi = std::max(hi, bpp);
            EXPECT_NEAR(static_cast<double>(p.bytes), got, std::max(16.0, 0.01 * got)) << "point " << i;
            EXPECT_NEAR(*p.err2, enc->err2, 1e-6 * enc->ref2 + 1e-4 * enc->err2) << "point " << i;
        }
        EXPECT_LT(lo, 0.1);  // the ladder spans ~0.05 to ~8 bits/param
        EXPECT_GT(hi, 7);
    }
    // Without a target: one point near --ecsq-bits.
    for (const double bits : {0.5, 2.0, 4.0}) {
        CompressOptions o;
        o.ecsq_bits = bits;
        const RdCurve c = m->analyse(in, o);
        ASSERT_EQ(c.points.size(), 1u);
        const auto enc = m->encode(in, o, c.points[0], ec);
        ByteWriter wr;
        enc->write(wr);
        EXPECT_NEAR(static_cast<double>(wr.buf.size()) * 8 / (rows * cols), bits, 0.08 * bits) << bits;
    }
}

// A Gaussian delta: SNR near the Gaussian bound of 6.02 dB per bit (ECSQ's high-rate
// gap is 1.53 dB), printed for the record.
TEST_F(Ecsq, GaussianDeltaNearTheRateDistortionBound) {
    const uint64_t rows = 256, cols = 1024;
    const std::vector<double> v = gaussian(rows * cols, 0.05, 7), d = gaussian(rows * cols, 0.001, 8);
    std::vector<double> w(v.size());
    for (size_t i = 0; i < v.size(); ++i) w[i] = v[i] + d[i];
    write_safetensors(base_path, {make_tensor("layer.w", DType::F32, {rows, cols}, v)});
    write_safetensors(ft_path, {make_tensor("layer.w", DType::F32, {rows, cols}, w)});
    for (const double bits : {0.25, 0.5, 1.0, 2.0, 4.0}) {
        CompressOptions o;
        o.ecsq_bits = bits;
        const TensorReport t = make(dir / "g.dcx", o).tensors.at(0);
        const double snr = -20 * std::log10(t.rel_error()), bound = 6.02 * t.bits_per_param();
        std::printf("ecsq on a %llux%llu Gaussian delta: %.3f bit/param, rel. error %.4f, SNR %.2f dB (bound %.2f)\n",
                    static_cast<unsigned long long>(rows), static_cast<unsigned long long>(cols), t.bits_per_param(),
                    t.rel_error(), snr, bound);
        EXPECT_EQ(t.method, "ecsq");
        EXPECT_LT(snr, bound);
        EXPECT_GT(snr, bound - 2.0) << bits;
    }
}

// info names the method, decodes every stream, and counts ecsq tensors as coded; the
// options are recorded only when not at their defaults.
TEST_F(Ecsq, InfoDescribesTheRecords) {
    const CompressReport rep = make(dir / "e.dcx");
    const DcxInfo in = info(dir / "e.dcx");
    EXPECT_EQ(in.count("coded"), ft.size() - 1);
    for (const DcxTensor& t : in.tensors) EXPECT_EQ(t.method, t.name == "norm.weight" ? "exact_delta" : "ecsq");
    json j = json::parse(in.to_json());
    EXPECT_EQ(j["options"]["method"], "ecsq");
    EXPECT_FALSE(j["options"].contains("ecsq_bits"));
    EXPECT_FALSE(j["options"].contains("ecsq_gain"));
    EXPECT_FALSE(j["options"].contains("patch"));
    EXPECT_NEAR(in.rel_error, rep.rel_error(), 1e-12);
    CompressOptions o;
    o.ecsq_bits = 3;
    o.ecsq_projection = true;
    make(dir / "p.dcx", o);
    j = json::parse(info(dir / "p.dcx").to_json());
    EXPECT_EQ(j["options"]["ecsq_bits"], "3");
    EXPECT_EQ(j["options"]["ecsq_gain"], "projection");
}

// A delta holding NaN or infinity is not ecsq's: the tensor falls back to exact.
TEST_F(Ecsq, NonFiniteDeltaFallsBackToExact) {
    for (const double bpp : {0.0, 2.0}) {  // without and with a rate target
        CompressOptions o;
        o.method = "ecsq";
        o.bpp = bpp;
        expect_non_finite_falls_back(std::numeric_limits<double>::quiet_NaN(), o);
    }
}

// `--method ecsq` from the CLI with its options; they are refused with another method.
TEST_F(Ecsq, WorksFromTheCli) {
    const RunResult c = run_cli({"compress", base_path, ft_path, "-o", dir / "cli.dcx", "--method", "ecsq", "--include",
                                 ".", "--ecsq-bits", "1.5", "--ecsq-gain", "projection"},
                                dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    EXPECT_NE(c.out.find(": ecsq"), std::string::npos) << c.out;
    const RunResult d = run_cli({"decompress", base_path, dir / "cli.dcx", "-o", dir / "out.safetensors"}, dir.path());
    ASSERT_EQ(d.rc, 0) << d.err;
    CompressOptions o;
    o.ecsq_bits = 1.5;
    o.ecsq_projection = true;
    make(dir / "lib.dcx", o);
    EXPECT_EQ(read_bytes(dir / "cli.dcx"), read_bytes(dir / "lib.dcx"));
    const RunResult bad = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "dct", "--ecsq-bits", "1"}, dir.path());
    EXPECT_EQ(bad.rc, 2) << bad.err;
    EXPECT_NE(bad.err.find("--ecsq-bits 1 applies to --method ecsq|hybrid only"), std::string::npos) << bad.err;
    const RunResult range = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "ecsq", "--ecsq-bits", "20"}, dir.path());
    EXPECT_EQ(range.rc, 2) << range.err;
    EXPECT_NE(range.err.find("--ecsq-bits '20' is not a number of bits"), std::string::npos) << range.err;
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}

// Hostile records: each refused by info and by apply with an Error naming the tensor.
TEST_F(Ecsq, CorruptRecordsAreRefused) {
    make(dir / "e.dcx");
    const Sections good = read_sections(dir / "e.dcx");
    size_t at = 0;  // f.wide: 200 x 3000, 87 rows a chunk (3 chunks), escapes
    while (good[at].first != SectionType::TENSOR || split(good[at].second).prefix.name != "f.wide") ++at;
    const std::vector<uint8_t>& p0 = good[at].second;
    const Rec rec = split(p0);
    ASSERT_EQ(rec.rpc, 87u);
    ASSERT_EQ(rec.lens.size(), 6u);
    ASSERT_GT(rec.lens[1], 0u) << "the outliers are escapes";
    const size_t stream = rec.blob_at + kBlobHeaderBytes;
    std::vector<HostileCase> cases;
    auto add = [&](std::string what, std::string expect, auto edit) {
        std::vector<uint8_t> p = p0;
        edit(p);
        cases.push_back({std::move(what), std::move(expect), std::move(p)});
    };
    add("truncated", "truncated or corrupt record", [](std::vector<uint8_t>& p) { p.pop_back(); });
    add("NaN step", "step is not a finite number > 0",
        [&](std::vector<uint8_t>& p) { put_f32(p, rec.step_at, std::nanf("")); });
    add("zero step", "step is not a finite number > 0", [&](std::vector<uint8_t>& p) { put_f32(p, rec.step_at, 0); });
    add("infinite gain", "gain is not finite", [&](std::vector<uint8_t>& p) { put_f32(p, rec.gain_at, INFINITY); });
    add("no offsets", "has 0 offsets", [&](std::vector<uint8_t>& p) { p[rec.k_at] = 0; });
    add("17 offsets", "has 17 offsets", [&](std::vector<uint8_t>& p) { p[rec.k_at] = 17; });
    add("offset 2", "offset is not in [-1, 1]", [&](std::vector<uint8_t>& p) { put_f32(p, rec.k_at + 5, 2); });
    add("rows per chunk 0", "rows per chunk", [&](std::vector<uint8_t>& p) { std::memset(&p[rec.rpc_at], 0, 4); });
    add("rows per chunk > rows", "rows per chunk", [&](std::vector<uint8_t>& p) { p[rec.rpc_at + 1] = 1; });
    add("table sum", "bad entropy table", [&](std::vector<uint8_t>& p) { p[rec.table_at + 2] ^= 1; });
    add("chunk lengths", "do not add up", [&](std::vector<uint8_t>& p) { put_u64(p, rec.index_at, rec.lens[0] + 1); });
    add("lengths shifted", "corrupt", [&](std::vector<uint8_t>& p) {
        put_u64(p, rec.index_at, rec.lens[0] - 1);
        put_u64(p, rec.index_at + 8, rec.lens[1] + 1);
    });
    add("stream byte", "corrupt", [&](std::vector<uint8_t>& p) { p[stream + 20] ^= 0x10; });
    add("state", "initial state out of range", [&](std::vector<uint8_t>& p) { p[stream + 3] = 0xff; });
    add("escape too large", "bad escape in chunk 0", [&](std::vector<uint8_t>& p) {
        const size_t e = stream + rec.lens[0];  // the first escape varint: make it 5 bytes of 0xff…
        std::vector<uint8_t> big = {0xff, 0xff, 0xff, 0xff, 0x0f};
        size_t len = 1;
        while (p[e + len - 1] & 0x80) ++len;
        p.erase(p.begin() + e, p.begin() + e + len);
        p.insert(p.begin() + e, big.begin(), big.end());
        const int64_t grow = 5 - static_cast<int64_t>(len);
        put_u64(p, rec.index_at + 8, rec.lens[1] + grow);
        put_u64(p, rec.blob_at + 1, rec.blob.raw + grow);
        put_u64(p, rec.blob_at + 9, rec.blob.raw + grow);
    });
    add("compressed blob", "corrupt zstd blob", [&](std::vector<uint8_t>& p) { p[rec.blob_at] = 1; });
    expect_refused(good, at, cases, dir, base_path, "f.wide");
}

// A record whose HEADER and prefix claim 2^40 columns (its streams hold 3000 a row):
// info refuses it with an Error once the streams run out, never allocating a claimed
// row (rows are decoded a slice at a time); apply refuses it against the real base.
TEST_F(Ecsq, ClaimedHugeShapeIsRefusedWithoutAllocatingIt) {
    make(dir / "e.dcx");
    Sections s = read_sections(dir / "e.dcx");
    const size_t at = claim_shape(s, "f.wide", {200, uint64_t{1} << 40});
    write_sections(dir / "huge.dcx", s);
    expect_info_refuses(dir / "huge.dcx", "f.wide", "corrupt");
    expect_refused(s, at, {{"2^40 columns", "", s[at].second}}, dir, base_path, "f.wide");
}

// Random damage to ecsq records (checksums repaired): every mutant decodes or is
// refused with an Error; nothing else.
TEST_F(Ecsq, MutatedRecordsDecodeOrAreRefused) {
    make(dir / "e.dcx");
    const Sections good = read_sections(dir / "e.dcx");
    const int refused = mutants_refused(
        good, 4, [](const std::vector<uint8_t>& p) { return split(p).body; }, 150, dir, base_path);
    EXPECT_GT(refused, 100);
}

// What rANS buys over zstd on the same symbols: the quantized deltas of a Gaussian and
// of a heavy-tailed (Laplacian) delta at several steps, as bytes (one symbol a byte) and
// bit-packed at the width of the largest symbol, each through the file's zstd blob
// (w.blob), against the rANS streams at one table per tensor. Printed for the record.
TEST(EcsqEntropy, RansBeatsZstdOnTheSameSymbols) {
    const size_t n = 1 << 19;
    std::mt19937 rng(4);
    std::normal_distribution<float> g(0, 1);
    std::exponential_distribution<float> ex(1);
    for (const std::string dist : {"gaussian", "laplacian"})
        for (const float step : {4.0f, 2.0f, 1.0f, 0.5f, 0.25f, 0.0625f}) {
            std::vector<uint8_t> syms(n);
            std::vector<uint8_t> esc;
            for (size_t i = 0; i < n; ++i) {
                const float x = dist == "gaussian" ? g(rng) : (rng() % 2 ? ex(rng) : -ex(rng)) / std::sqrt(2.0f);
                const uint64_t z = rans::zigzag(ref_q(x, step));
                syms[i] = static_cast<uint8_t>(std::min<uint64_t>(z, 255));
                if (z >= 255) rans::put_varint(esc, z - 255);
            }
            std::vector<uint64_t> h(256, 0);
            unsigned top = 0;
            for (uint8_t s : syms) ++h[s], top = std::max<unsigned>(top, s);
            h.resize(top + 1);
            const rans::Table t = rans::normalize(h.data(), h.size());
            std::vector<uint8_t> out;
            for (size_t c = 0; c < n; c += 1 << 18)
                rans::encode(t, syms.data() + c, std::min<size_t>(1 << 18, n - c), out);
            const double r = static_cast<double>(out.size() + esc.size() + rans::table_bytes(t));
            ByteWriter zb;
            zb.blob(syms.data(), n, true);
            zb.bytes(esc.data(), esc.size());
            int width = 1;
            while ((1u << width) <= top) ++width;
            std::vector<uint8_t> packed((n * width + 7) / 8, 0);
            for (size_t i = 0; i < n; ++i)
                for (int b = 0; b < width; ++b)
                    if ((syms[i] >> b) & 1)
                        packed[(i * width + b) / 8] |= static_cast<uint8_t>(1u << ((i * width + b) % 8));
            ByteWriter zp;
            zp.blob(packed.data(), packed.size(), true);
            zp.bytes(esc.data(), esc.size());
            const double zbytes = static_cast<double>(zb.buf.size()), zpacked = static_cast<double>(zp.buf.size());
            std::printf(
                "%-9s step %6.4fσ: rANS %.3f bit/sym, zstd(bytes) %.3f (+%.1f%%), zstd(%d-bit packed) %.3f (+%.1f%%)\n",
                dist.c_str(), step, r * 8 / n, zbytes * 8 / n, 100 * (zbytes / r - 1), width, zpacked * 8 / n,
                100 * (zpacked / r - 1));
            EXPECT_LT(r, std::min(zbytes, zpacked)) << dist << " step " << step;
        }
}

// A tensor of more than 2^20 values: without a target the step is chosen on a sample of
// its rows, and still lands near --ecsq-bits (old code: every row read 25 times over).
TEST_F(Ecsq, LargeTensorStepChosenOnASampleHitsTheTarget) {
    const uint64_t rows = 1024, cols = 2304;
    const std::vector<double> v = gaussian(rows * cols, 0.05, 17);
    write_safetensors(base_path, {make_tensor("big", DType::F16, {rows, cols}, v)});
    write_safetensors(ft_path, {make_tensor("big", DType::F16, {rows, cols}, perturb(v, rows, cols, 0.002, 18))});
    for (const double bits : {0.5, 2.0}) {
        CompressOptions o;
        o.ecsq_bits = bits;
        const TensorReport t = make(dir / "big.dcx", o).tensors.at(0);
        EXPECT_EQ(t.method, "ecsq");
        EXPECT_NEAR(t.bits_per_param(), bits, 0.05 * bits) << bits;
    }
}
