// Method 6, sparse (src/methods/sparse.cpp): its records against a plain reference
// decoder written here (FORMAT.md "SPARSE", element by element, the streams through
// rans::decode_ref), the keep rules and gains, analyse()'s ladder against what
// encode() writes, through compress → apply and info, from the CLI, and hostile
// records refused with deltacodec::Error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
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

namespace {

// ---- a record, read field by field (FORMAT.md "SPARSE") ------------------------------

struct Rec {
    TensorPrefix prefix;
    size_t body = 0;
    size_t keep_at = 0, rpc_at = 0, seed_at = 0, thr_at = 0, tau_at = 0, step_at = 0, gain_at = 0, k_at = 0;
    size_t index_at = 0, blob_at = 0, vtable_at = 0;
    uint8_t keep = 0;
    uint32_t rpc = 0, thr = 0;
    uint64_t seed = 0;
    float tau = 0, step = 0, gain = 0;
    std::vector<float> offsets;
    rans::Table ptable, vtable;
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
    rec.keep_at = at();
    rec.keep = r.u8();
    rec.rpc_at = at();
    rec.rpc = r.u32();
    rec.seed_at = at();
    rec.seed = r.u64();
    rec.thr_at = at();
    rec.thr = r.u32();
    rec.tau_at = at();
    rec.tau = r.f32();
    rec.step_at = at();
    rec.step = r.f32();
    rec.gain_at = at();
    rec.gain = r.f32();
    rec.k_at = at();
    const unsigned k = r.u8();
    for (unsigned i = 0; i < k; ++i) rec.offsets.push_back(r.f32());
    if (rec.keep == 0) rec.ptable = rans::read_table(r);
    rec.vtable_at = at();
    rec.vtable = rans::read_table(r);
    rec.index_at = at();
    const uint64_t rows = rec.prefix.shape.at(0);
    for (uint64_t c = 0; c < 3 * ((rows + rec.rpc - 1) / rec.rpc); ++c) rec.lens.push_back(r.u64());
    rec.blob_at = at();
    rec.blob = r.blob_ref();
    r.expect_end();
    return rec;
}

// FORMAT.md's mix(), written out.
bool ref_random_kept(uint64_t seed, uint32_t thr, uint64_t i) {
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ull;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (z >> 32) < thr;
}

// The reference decoder: per element, kept or not and its symbol z (-1: not kept).
std::vector<int64_t> ref_symbols(const Rec& rec) {
    const uint64_t rows = rec.prefix.shape.at(0), cols = rec.prefix.shape.at(1);
    std::vector<int64_t> z;
    const uint8_t* p = rec.blob.src;
    for (uint64_t c = 0; c * rec.rpc < rows; ++c) {
        const uint64_t len = (std::min<uint64_t>(rows, (c + 1) * rec.rpc) - c * rec.rpc) * cols;
        std::vector<bool> kept(len);
        if (rec.keep == 0) {
            const std::vector<uint8_t> bm = rans::decode_ref(rec.ptable, p, rec.lens[3 * c], (len + 7) / 8, "ref");
            for (uint64_t e = 0; e < len; ++e) kept[e] = bm[e / 8] >> (e % 8) & 1;
        } else {
            for (uint64_t e = 0; e < len; ++e) kept[e] = ref_random_kept(rec.seed, rec.thr, c * rec.rpc * cols + e);
        }
        p += rec.lens[3 * c];
        const size_t n = static_cast<size_t>(std::count(kept.begin(), kept.end(), true));
        const std::vector<uint8_t> s = rans::decode_ref(rec.vtable, p, rec.lens[3 * c + 1], n, "ref");
        const uint8_t* e = p + rec.lens[3 * c + 1];
        size_t k = 0;
        for (uint64_t i = 0; i < len; ++i) {
            if (!kept[i]) {
                z.push_back(-1);
                continue;
            }
            z.push_back(static_cast<int64_t>(ref_unescape(s[k++], e)));
        }
        EXPECT_EQ(e, p + rec.lens[3 * c + 1] + rec.lens[3 * c + 2]);
        p = e;
    }
    return z;
}

float ref_value(int64_t z, const Rec& rec) {
    if (z < 0) return 0;
    const uint64_t m = static_cast<uint64_t>(z) / 2;
    const float o = rec.offsets[std::min<uint64_t>(m, rec.offsets.size() - 1)];
    const float v = (rec.tau + (static_cast<float>(m) + o) * rec.step) * rec.gain;
    return z & 1 ? -v : v;
}

void put_u32(std::vector<uint8_t>& p, size_t at, uint32_t v) { std::memcpy(&p[at], &v, 4); }

class Sparse : public MethodPair {
protected:
    // The shared pair and a wide tensor (3000 columns: 87 rows a chunk, 3 chunks) with a few
    // outliers 300σ out: escapes at any step.
    void SetUp() override { make_pair_with_wide_outliers(); }

    CompressReport make(const std::string& out, CompressOptions o = {}) { return compress_all("sparse", out, o); }
};

}  // namespace

// Every record against the reference: the kept set is the keep rule's (the largest |Δ|, or
// the seeded hash), each symbol the reference quantizer's, the offsets the centroids, the
// gain the rule's, and apply() rebuilds the reference decoder's bytes at 1 and 4 threads
// (old code: no method 6; --method sparse refused).
TEST_F(Sparse, RecordsAndRebuildMatchThePlainReference) {
    for (const bool random : {false, true})
        for (const SparseGain gain : {SparseGain::MSE, SparseGain::PROJECTION, SparseGain::DARE}) {
            SCOPED_TRACE(std::string(random ? "random" : "magnitude") + " gain " +
                         std::to_string(static_cast<int>(gain)));
            CompressOptions o;
            o.sparse_random = random;
            o.sparse_gain = gain;
            o.sparse_keep_frac = 0.2;
            const CompressReport rep = make(dir / "s.dcx", o);
            std::map<std::string, const TensorReport*> by_name;
            for (const TensorReport& t : rep.tensors) by_name[t.name] = &t;
            std::map<std::string, std::vector<uint8_t>> want;
            size_t records = 0;
            for (const auto& [type, payload] : read_sections(dir / "s.dcx")) {
                if (type != SectionType::TENSOR || record_method(payload) != 6) continue;
                const Rec rec = split(payload);
                size_t i = 0;
                while (ft[i].name != rec.prefix.name) ++i;
                const std::vector<float> d = delta_of(base[i], ft[i]);
                const std::vector<int64_t> z = ref_symbols(rec);
                ASSERT_EQ(z.size(), d.size());
                ASSERT_EQ(rec.offsets.size(), 4u);
                EXPECT_EQ(rec.keep, random ? 1 : 0);
                EXPECT_EQ(rec.rpc, std::min<uint64_t>(rec.prefix.shape[0],
                                                      std::max<uint64_t>(1, (1 << 18) / rec.prefix.shape[1])));
                uint64_t kept = 0;
                double sum[4] = {}, cnt[4] = {}, err2 = 0, ref2 = 0, inner = 0;
                for (size_t j = 0; j < d.size(); ++j) {
                    const bool want_kept = random ? ref_random_kept(rec.seed, rec.thr, j) : std::fabs(d[j]) >= rec.tau;
                    ASSERT_EQ(z[j] >= 0, want_kept) << rec.prefix.name << " element " << j;
                    if (z[j] < 0) continue;
                    ++kept;
                    const float a = (std::fabs(d[j]) - rec.tau) * (1.0f / rec.step);
                    const int64_t m = static_cast<int64_t>(a);
                    ASSERT_EQ(z[j], 2 * m + (d[j] < 0)) << rec.prefix.name << " element " << j;
                    sum[std::min<int64_t>(m, 3)] += a - static_cast<float>(m);
                    cnt[std::min<int64_t>(m, 3)] += 1;
                }
                if (!random) {  // tau: the k-th largest |delta|, k = round(0.2 n) (ties at tau all kept)
                    std::vector<float> a(d.size());
                    for (size_t j = 0; j < d.size(); ++j) a[j] = std::fabs(d[j]);
                    std::sort(a.begin(), a.end(), std::greater<float>());
                    const size_t k = static_cast<size_t>(std::llround(0.2 * static_cast<double>(d.size())));
                    EXPECT_EQ(rec.tau, std::max(a.at(k - 1), std::numeric_limits<float>::denorm_min()))
                        << rec.prefix.name;
                    EXPECT_GE(kept, k) << rec.prefix.name;
                    EXPECT_EQ(rec.seed, 0u);
                } else {
                    EXPECT_EQ(rec.thr, static_cast<uint32_t>(std::llround(0.2 * 4294967296.0)));
                    EXPECT_EQ(rec.tau, 0.0f);
                }
                for (size_t k = 0; k < 4; ++k)
                    EXPECT_NEAR(rec.offsets[k], cnt[k] ? sum[k] / cnt[k] : 0, 1e-5) << rec.prefix.name << " k " << k;
                for (size_t j = 0; j < d.size(); ++j) {
                    const double v = ref_value(z[j], rec), e = d[j] - v;
                    err2 += e * e;
                    ref2 += static_cast<double>(d[j]) * d[j];
                    inner += v * d[j];
                }
                const double frac = random ? rec.thr / 4294967296.0 : static_cast<double>(kept) / d.size();
                if (gain == SparseGain::MSE) {
                    EXPECT_EQ(rec.gain, 1.0f);
                } else if (gain == SparseGain::PROJECTION) {
                    EXPECT_NEAR(inner, ref2, 1e-5 * ref2) << rec.prefix.name << ": the projection is kept";
                } else {
                    EXPECT_FLOAT_EQ(rec.gain, static_cast<float>(1 / frac));
                }
                const TensorReport& tr = *by_name.at(rec.prefix.name);
                EXPECT_EQ(tr.kind, "coded");
                EXPECT_EQ(tr.method, "sparse");
                EXPECT_NEAR(tr.err2, err2, 1e-6 * ref2) << rec.prefix.name;
                EXPECT_NEAR(tr.ref2, ref2, 1e-9 * ref2) << rec.prefix.name;
                const uint64_t n = d.size();
                const std::vector<double> b = decode(base[i].dtype, base[i].bytes.data(), n);
                std::vector<double> out(n);
                for (uint64_t j = 0; j < n; ++j) out[j] = static_cast<float>(b[j]) + ref_value(z[j], rec);
                want[rec.prefix.name] = encode(ft[i].dtype, out);
                ++records;
            }
            EXPECT_EQ(records, ft.size() - 1);
            for (const unsigned threads : {1u, 4u}) {
                MapSink sink;
                ApplyOptions ao;
                ao.threads = threads;
                apply(base_path, dir / "s.dcx", sink, ao);
                for (const auto& [name, bytes] : want)
                    EXPECT_EQ(sink.tensors.at(name), bytes) << name << " threads " << threads;
                EXPECT_EQ(sink.tensors.at("norm.weight"), ft.back().bytes);
            }
        }
}

// The same bytes at 1 and 4 threads, for both keep rules and under a rate target.
TEST_F(Sparse, OutputDoesNotDependOnThreads) {
    for (const bool random : {false, true})
        for (const double bpp : {0.0, 1.0}) {
            CompressOptions o;
            o.sparse_random = random;
            o.bpp = bpp;
            o.threads = 1;
            make(dir / "1.dcx", o);
            o.threads = 4;
            make(dir / "4.dcx", o);
            EXPECT_EQ(read_bytes(dir / "1.dcx"), read_bytes(dir / "4.dcx")) << random << " " << bpp;
        }
}

// Under a rate target, analyse() gives a ladder of increasing bytes and decreasing error whose
// sizes are the payload encode() writes within 1% (24 bytes on tiny payloads) and whose err2
// is encode()'s; without one, the point --sparse-keep-frac and --sparse-bits configure.
TEST_F(Sparse, LadderPredictsTheEncodedSizeAndError) {
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
    const MethodTraits* m = find_method("sparse");
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(static_cast<unsigned>(m->id), 6u);
    ASSERT_TRUE(m->applicable(in));
    ThreadPool pool(3);
    Scratch scratch;
    EncodeContext ec{pool, scratch};
    // Magnitude keep with the centroids, random keep with the projection gain.
    for (const auto& [random, gain] :
         std::vector<std::pair<bool, SparseGain>>{{false, SparseGain::MSE}, {true, SparseGain::PROJECTION}}) {
        CompressOptions o;
        o.bpp = 1;
        o.sparse_random = random;
        o.sparse_gain = gain;
        const RdCurve c = m->analyse(in, o);
        ASSERT_GE(c.points.size(), 10u) << random;
        for (size_t i = 0; i < c.points.size(); ++i) {
            const RdPoint& p = c.points[i];
            ASSERT_TRUE(p.err2.has_value());
            if (i) {
                EXPECT_GT(p.bytes, c.points[i - 1].bytes);
                EXPECT_LT(*p.err2, *c.points[i - 1].err2);
            }
            const auto enc = m->encode(in, o, p, ec);
            ASSERT_TRUE(enc.has_value());
            ByteWriter wr;
            enc->write(wr);
            const double got = static_cast<double>(wr.buf.size());
            EXPECT_NEAR(static_cast<double>(p.bytes), got, std::max(24.0, 0.01 * got)) << "point " << i;
            EXPECT_NEAR(*p.err2, enc->err2, 1e-6 * enc->ref2 + 1e-4 * enc->err2) << "point " << i;
        }
    }
    // Without a target: one point; more kept or more bits cost more and err less.
    double last_bytes = 0, last_err = 1e300;
    for (const auto& [frac, bits] : std::vector<std::pair<double, double>>{{0.02, 2}, {0.05, 3}, {0.2, 3}, {0.2, 5}}) {
        CompressOptions o;
        o.sparse_keep_frac = frac;
        o.sparse_bits = bits;
        const RdCurve c = m->analyse(in, o);
        ASSERT_EQ(c.points.size(), 1u);
        const auto enc = m->encode(in, o, c.points[0], ec);
        ASSERT_TRUE(enc.has_value());
        ByteWriter wr;
        enc->write(wr);
        const double got = static_cast<double>(wr.buf.size());
        EXPECT_NEAR(static_cast<double>(c.points[0].bytes), got, std::max(24.0, 0.01 * got)) << frac;
        EXPECT_GT(got, last_bytes) << frac << " " << bits;
        EXPECT_LT(enc->err2, last_err) << frac << " " << bits;
        last_bytes = got, last_err = enc->err2;
    }
}

// Under a rate target the allocator may pick sparse; the file lands at the target.
TEST_F(Sparse, RateControlPicksSparsePoints) {
    CompressOptions o;
    o.bpp = 1;
    const CompressReport rep = make(dir / "r.dcx", o);
    size_t sparse = 0;
    for (const TensorReport& t : rep.tensors) sparse += t.method == "sparse";
    EXPECT_GT(sparse, 0u);
    EXPECT_LE(rep.dcx_bytes, rep.target_bytes);
    MapSink sink;
    apply(base_path, dir / "r.dcx", sink);
    EXPECT_EQ(sink.tensors.size(), ft.size());
}

// A delta holding NaN or infinity is not sparse's: the tensor falls back to exact.
TEST_F(Sparse, NonFiniteDeltaFallsBackToExact) {
    for (const double bpp : {0.0, 2.0}) {
        CompressOptions o;
        o.method = "sparse";
        o.bpp = bpp;
        expect_non_finite_falls_back(std::numeric_limits<double>::quiet_NaN(), o);
    }
}

// `--method sparse` from the CLI with its options; they are refused with another method.
TEST_F(Sparse, WorksFromTheCli) {
    const RunResult c = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "cli.dcx", "--method", "sparse", "--include", ".", "--sparse-keep",
         "random", "--sparse-keep-frac", "0.3", "--sparse-bits", "4", "--sparse-gain", "projection"},
        dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    EXPECT_NE(c.out.find(": sparse"), std::string::npos) << c.out;
    const RunResult d = run_cli({"decompress", base_path, dir / "cli.dcx", "-o", dir / "out.safetensors"}, dir.path());
    ASSERT_EQ(d.rc, 0) << d.err;
    CompressOptions o;
    o.sparse_random = true;
    o.sparse_keep_frac = 0.3;
    o.sparse_bits = 4;
    o.sparse_gain = SparseGain::PROJECTION;
    make(dir / "lib.dcx", o);
    EXPECT_EQ(read_bytes(dir / "cli.dcx"), read_bytes(dir / "lib.dcx"));
    const RunResult bad =
        run_cli({"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "ecsq", "--sparse-keep-frac", "0.2"},
                dir.path());
    EXPECT_EQ(bad.rc, 2) << bad.err;
    EXPECT_NE(bad.err.find("--sparse-keep-frac 0.2 applies to --method sparse only"), std::string::npos) << bad.err;
    const RunResult range =
        run_cli({"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "sparse", "--sparse-keep-frac", "2"},
                dir.path());
    EXPECT_EQ(range.rc, 2) << range.err;
    EXPECT_NE(range.err.find("out of range"), std::string::npos) << range.err;
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}

// Hostile records: each refused by info and by apply with an Error naming the tensor.
TEST_F(Sparse, CorruptRecordsAreRefused) {
    for (const bool random : {false, true}) {
        CompressOptions o;
        o.sparse_random = random;
        make(dir / "s.dcx", o);
        const Sections good = read_sections(dir / "s.dcx");
        size_t at = 0;  // f.wide: 200 x 3000, 87 rows a chunk (3 chunks), escapes
        while (good[at].first != SectionType::TENSOR || split(good[at].second).prefix.name != "f.wide") ++at;
        const std::vector<uint8_t>& p0 = good[at].second;
        const Rec rec = split(p0);
        ASSERT_EQ(rec.rpc, 87u);
        ASSERT_EQ(rec.lens.size(), 9u);
        const size_t stream = rec.blob_at + kBlobHeaderBytes;
        HostileCases hc{p0, {}};
        auto add = [&](std::string what, std::string expect, auto edit) { hc.add(what, expect, edit); };
        add("truncated", "truncated or corrupt record", [](std::vector<uint8_t>& p) { p.pop_back(); });
        add("overlong", "", [](std::vector<uint8_t>& p) { p.push_back(0); });
        add("keep 2", "keep rule 2", [&](std::vector<uint8_t>& p) { p[rec.keep_at] = 2; });
        add("NaN step", "step is not a finite number > 0",
            [&](std::vector<uint8_t>& p) { put_f32(p, rec.step_at, std::nanf("")); });
        add("zero step", "step is not a finite number > 0",
            [&](std::vector<uint8_t>& p) { put_f32(p, rec.step_at, 0); });
        add("negative tau", "tau", [&](std::vector<uint8_t>& p) { put_f32(p, rec.tau_at, -1); });
        add("infinite gain", "gain is not finite", [&](std::vector<uint8_t>& p) { put_f32(p, rec.gain_at, INFINITY); });
        add("no offsets", "has 0 offsets", [&](std::vector<uint8_t>& p) { p[rec.k_at] = 0; });
        add("offset 2", "offset is not in [0, 1]", [&](std::vector<uint8_t>& p) { put_f32(p, rec.k_at + 5, 2); });
        add("rows per chunk 0", "rows per chunk", [&](std::vector<uint8_t>& p) { put_u32(p, rec.rpc_at, 0); });
        add("rows per chunk > rows", "rows per chunk", [&](std::vector<uint8_t>& p) { put_u32(p, rec.rpc_at, 201); });
        add("chunk too large", "more than 2^18", [&](std::vector<uint8_t>& p) { put_u32(p, rec.rpc_at, 100); });
        add("value table", "bad entropy table", [&](std::vector<uint8_t>& p) { p[rec.vtable_at + 2] ^= 1; });
        add("chunk lengths", "do not add up",
            [&](std::vector<uint8_t>& p) { put_u64(p, rec.index_at + 8, rec.lens[1] + 1); });
        add("huge length", "out of range", [&](std::vector<uint8_t>& p) { put_u64(p, rec.index_at + 8, ~0ull); });
        add("lengths shifted", "corrupt", [&](std::vector<uint8_t>& p) {
            put_u64(p, rec.index_at + 8, rec.lens[1] - 1);
            put_u64(p, rec.index_at + 16, rec.lens[2] + 1);
        });
        add("stream byte", "corrupt", [&](std::vector<uint8_t>& p) { p[stream + 20] ^= 0x10; });
        add("state", "initial state out of range", [&](std::vector<uint8_t>& p) { p[stream + 3] = 0xff; });
        add("compressed blob", "corrupt zstd blob", [&](std::vector<uint8_t>& p) { p[rec.blob_at] = 1; });
        if (random) {
            add("threshold 0", "keeps nothing", [&](std::vector<uint8_t>& p) { put_u32(p, rec.thr_at, 0); });
            add("tau of random", "tau", [&](std::vector<uint8_t>& p) { put_f32(p, rec.tau_at, 0.5f); });
            add("position stream", "with a position stream", [&](std::vector<uint8_t>& p) {
                put_u64(p, rec.index_at, 1);
                put_u64(p, rec.index_at + 8, rec.lens[1] - 1);
            });
            // More kept entries than the value stream holds (a larger threshold).
            add("threshold up", "corrupt", [&](std::vector<uint8_t>& p) { put_u32(p, rec.thr_at, rec.thr * 2); });
        } else {
            add("seed of magnitude", "seed or threshold", [&](std::vector<uint8_t>& p) { p[rec.seed_at] = 1; });
            // The value stream's first state changed: a different symbol count or sequence.
            add("value stream byte", "corrupt", [&](std::vector<uint8_t>& p) { p[stream + rec.lens[0] + 10] ^= 0x40; });
        }
        expect_refused(good, at, hc.cases, dir, base_path, "f.wide");
    }
}

// A record of one row a chunk whose HEADER and prefix claim 2^40 columns: info refuses
// it with an Error once the streams run out, never allocating a claimed chunk (it is
// decoded a slice at a time); apply refuses it against the real base.
TEST_F(Sparse, ClaimedHugeShapeIsRefusedWithoutAllocatingIt) {
    const uint64_t cols = (uint64_t{1} << 17) + 8;  // over 2^17 columns: one row a chunk
    const std::vector<double> v = gaussian(2 * cols, 0.05, 5);
    write_safetensors(base_path, {make_tensor("g.long", DType::F32, {2, cols}, v)});
    write_safetensors(ft_path, {make_tensor("g.long", DType::F32, {2, cols}, perturb(v, 2, cols, 0.004, 6))});
    make(dir / "s.dcx");
    Sections s = read_sections(dir / "s.dcx");
    const size_t at = claim_shape(s, "g.long", {2, uint64_t{1} << 40});
    ASSERT_EQ(split(read_sections(dir / "s.dcx")[at].second).rpc, 1u);
    write_sections(dir / "huge.dcx", s);
    expect_info_refuses(dir / "huge.dcx", "g.long", "corrupt");
    expect_refused(s, at, {{"2^40 columns", "", s[at].second}}, dir, base_path, "g.long");
}

// Random damage to sparse records (checksums repaired): every mutant decodes or is refused
// with an Error; nothing else.
TEST_F(Sparse, MutatedRecordsDecodeOrAreRefused) {
    for (const bool random : {false, true}) {
        CompressOptions o;
        o.sparse_random = random;
        make(dir / "s.dcx", o);
        const Sections good = read_sections(dir / "s.dcx");
        const int refused = mutants_refused(
            good, 6, [](const std::vector<uint8_t>& p) { return split(p).body; }, 80, dir, base_path);
        EXPECT_GT(refused, 50) << random;
    }
}
