// Method 5, lowrank (src/methods/lowrank.cpp): its records rebuilt against a plain
// reference (the factors decoded code by code, the product a triple loop in double),
// an exactly low-rank delta (a merged LoRA) recovered, the rate-control ladder's
// estimates against what encode writes and rebuilds, compress → apply/decompress,
// info and the CLI, every float dtype, bytes that do not depend on the thread count,
// and hostile records refused with deltacodec::Error naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "codec/rans.hpp"
#include "coded_method_testutil.hpp"
#include "deltacodec/deltacodec.hpp"
#include "format/container.hpp"
#include "format/header.hpp"
#include "io/checkpoint.hpp"
#include "io/parallel.hpp"
#include "methods/method.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;
using json = nlohmann::json;

namespace {

// ---- the reference: FORMAT.md "LOWRANK", code by code ----------------------------

struct RefRecord {
    std::string name;
    unsigned method = 0;
    uint64_t rows = 0, cols = 0;
    std::vector<int> bits;
    std::vector<float> scales;
    std::vector<double> u, v;  // column-major: u[j*rows + i] = c_j·y, v[j*cols + k] = y
    size_t rank_at = 0, cols_at = 0, ublob_at = 0, vblob_at = 0, body = 0;  // offsets in the payload
    size_t end = 0;  // where the factors end (hybrid: its residual's fields follow)
};

// Code i of a column of b-bit codes packed LSB-first from `p`.
unsigned code_at(const uint8_t* p, uint64_t i, int b) {
    unsigned q = 0;
    for (int t = 0; t < b; ++t) {
        const uint64_t bit = i * b + t;
        q |= ((p[bit / 8] >> (bit % 8)) & 1u) << t;
    }
    return q;
}

std::vector<uint8_t> blob_bytes(const BlobRef& b) {
    std::vector<uint8_t> out(b.raw + 1);
    decode_blob(b, out.data(), "test");
    out.resize(b.raw);
    return out;
}

RefRecord parse_ref(const std::vector<uint8_t>& payload) {
    ByteReader r(payload.data(), payload.size(), "test");
    RefRecord rec;
    const TensorPrefix pre = read_prefix(r);
    rec.name = pre.name;
    rec.method = static_cast<unsigned>(pre.method);
    rec.rows = pre.shape.at(0);
    rec.cols = pre.shape.at(1);
    rec.body = payload.size() - r.remaining();
    r.u64();
    r.u8();
    rec.rank_at = payload.size() - r.remaining();
    const uint32_t rank = r.u32();
    rec.cols_at = payload.size() - r.remaining();
    for (uint32_t j = 0; j < rank; ++j) {
        rec.bits.push_back(r.u8());
        rec.scales.push_back(r.f32());
    }
    rec.ublob_at = payload.size() - r.remaining();
    const std::vector<uint8_t> uc = blob_bytes(r.blob_ref());
    rec.vblob_at = payload.size() - r.remaining();
    const std::vector<uint8_t> vc = blob_bytes(r.blob_ref());
    rec.end = payload.size() - r.remaining();
    if (rec.method != 8) r.expect_end();
    size_t upos = 0, vpos = 0;
    for (uint32_t j = 0; j < rank; ++j) {
        const int b = rec.bits[j];
        const double h = std::ldexp(1.0, b - 1) - 0.5;
        for (uint64_t i = 0; i < rec.rows; ++i) rec.u.push_back(rec.scales[j] * (code_at(&uc[upos], i, b) - h));
        for (uint64_t k = 0; k < rec.cols; ++k) rec.v.push_back(code_at(&vc[vpos], k, b) - h);
        upos += (rec.rows * b + 7) / 8;
        vpos += (rec.cols * b + 7) / 8;
    }
    EXPECT_EQ(upos, uc.size());
    EXPECT_EQ(vpos, vc.size());
    return rec;
}

// Δ̂ = Σ_j u_j·v_jᵀ, a plain triple loop in double.
std::vector<double> ref_product(const RefRecord& c) {
    std::vector<double> d(c.rows * c.cols, 0.0);
    for (uint64_t i = 0; i < c.rows; ++i)
        for (uint64_t k = 0; k < c.cols; ++k)
            for (size_t j = 0; j < c.bits.size(); ++j) d[i * c.cols + k] += c.u[j * c.rows + i] * c.v[j * c.cols + k];
    return d;
}

// hybrid's residual (FORMAT.md "HYBRID": ecsq's fields after the factors, from `at`),
// decoded symbol by symbol by rans::decode_ref: sign(q)·(|q| + o_k)·step·gain in f32.
std::vector<double> ref_residual(const std::vector<uint8_t>& payload, size_t at, uint64_t rows, uint64_t cols) {
    ByteReader r(payload.data() + at, payload.size() - at, "test");
    const float step = r.f32(), gain = r.f32();
    std::vector<float> off(r.u8());
    for (float& o : off) o = r.f32();
    const uint32_t rpc = r.u32();
    const rans::Table table = rans::read_table(r);
    std::vector<uint64_t> lens;
    for (uint64_t c = 0; c < 2 * ((rows + rpc - 1) / rpc); ++c) lens.push_back(r.u64());
    const BlobRef blob = r.blob_ref();
    r.expect_end();
    EXPECT_TRUE(rpc % 64 == 0 || rpc == rows) << rpc;
    std::vector<double> out;
    for (const int64_t q : ref_ecsq_symbols(table, lens, blob.src, rows, cols, rpc)) {
        const uint64_t m = static_cast<uint64_t>(std::llabs(q));
        const float y =
            m == 0 ? 0.0f : (static_cast<float>(m) + off[std::min<uint64_t>(m, off.size()) - 1]) * step * gain;
        out.push_back(q < 0 ? -y : y);
    }
    return out;
}

// The unit in the last place of |x| in `dt`.
double ulp(DType dt, double x) {
    const int mant = dt == DType::F16 ? 10 : dt == DType::BF16 ? 7 : 23;
    const int e = x == 0 ? -24 : std::max(std::ilogb(x), dt == DType::F16 ? -14 : -126);
    return std::ldexp(1.0, e - mant);
}

struct MapSink final : TensorSink {
    std::map<std::string, std::vector<uint8_t>> tensors;
    std::string cur;
    void begin(const std::string& name, DType, const Shape&, uint64_t) override { cur = name, tensors[name].clear(); }
    void write(const uint8_t* p, size_t n) override { tensors[cur].insert(tensors[cur].end(), p, p + n); }
};

// The TENSOR records' payloads of a .dcx, by tensor name, with the method id.
std::map<std::string, std::pair<unsigned, std::vector<uint8_t>>> records(const std::vector<uint8_t>& f) {
    std::map<std::string, std::pair<unsigned, std::vector<uint8_t>>> out;
    for (const DcxSection& s : dcx_sections(f)) {
        if (s.type != static_cast<uint32_t>(SectionType::TENSOR)) continue;
        std::vector<uint8_t> p(f.begin() + s.offset, f.begin() + s.offset + s.size);
        ByteReader r(p.data(), p.size(), "test");
        const TensorPrefix pre = read_prefix(r);
        out[pre.name] = {static_cast<unsigned>(pre.method), std::move(p)};
    }
    return out;
}

// `f` with the payload of section `s` replaced by `p` (its size and checksum rewritten).
std::vector<uint8_t> with_payload(const std::vector<uint8_t>& f, const DcxSection& s, const std::vector<uint8_t>& p) {
    std::vector<uint8_t> out(f.begin(), f.begin() + s.offset);
    for (int i = 0; i < 8; ++i) out[s.offset - 8 + i] = static_cast<uint8_t>(uint64_t{p.size()} >> (8 * i));
    out.insert(out.end(), p.begin(), p.end());
    out.resize(out.size() + 8);
    const DcxSection moved{s.type, s.offset, p.size()};
    fix_dcx_checksum(out, moved);
    out.insert(out.end(), f.begin() + s.offset + s.size + 8, f.end());
    return out;
}

// base + a delta of rank `rank` (A·Bᵀ, a merged LoRA) + Gaussian noise of `noise`.
std::vector<double> low_rank_fine_tune(const std::vector<double>& base, uint64_t rows, uint64_t cols, int rank,
                                       double scale, double noise, uint32_t seed) {
    const std::vector<double> a = gaussian(rows * rank, 1, seed), b = gaussian(cols * rank, 1, seed + 1);
    const std::vector<double> z = gaussian(rows * cols, noise, seed + 2);
    std::vector<double> out(base);
    for (uint64_t i = 0; i < rows; ++i)
        for (uint64_t k = 0; k < cols; ++k) {
            double d = 0;
            for (int j = 0; j < rank; ++j) d += a[i * rank + j] * b[k * rank + j] / (1 + j);
            out[i * cols + k] += scale * d + z[i * cols + k];
        }
    return out;
}

class LowRank : public CodedPairTest {
protected:
    // Several dtypes, a dtype change (F32 base, F16 fine-tune), shapes with padding
    // bits (odd sizes), a 1-column matrix, and a tensor left alone.
    void SetUp() override {
        write_pair({{"a.f32", DType::F32, DType::F32, 70, 45},
                    {"b.f16", DType::F16, DType::F16, 48, 96},
                    {"c.bf16", DType::BF16, DType::BF16, 40, 64},
                    {"d.mixed", DType::F32, DType::F16, 33, 72},
                    {"e.column", DType::F32, DType::F32, 20, 1}});
    }

    unsigned bits = 4;               // --rank-bits of make()
    std::string method = "lowrank";  // --method of make()

    CompressReport make(const std::string& out, unsigned rank = 8, bool entropy = true, unsigned threads = 0) {
        CompressOptions o;
        o.method = method;
        o.rank = rank;
        o.rank_bits = bits;
        o.include = ".";  // every 2-D float tensor, however small
        o.entropy = entropy;
        o.threads = threads;
        o.overwrite = true;
        return compress(base_path, ft_path, out, o);
    }

    // make() at `rank` gives the same .dcx at 1 and 4 threads, and apply() the same rebuild.
    void expect_same_bytes_at_1_and_4_threads(unsigned rank) {
        make(dir / "t1.dcx", rank, true, 1);
        make(dir / "t4.dcx", rank, true, 4);
        EXPECT_EQ(read_bytes(dir / "t1.dcx"), read_bytes(dir / "t4.dcx")) << method;
        MapSink a, b;
        ApplyOptions one, four;
        one.threads = 1;
        four.threads = 4;
        apply(base_path, dir / "t1.dcx", a, one);
        apply(base_path, dir / "t1.dcx", b, four);
        EXPECT_EQ(a.tensors, b.tensors) << method;
    }
};

// What the fixtures' tensors are, by name.
const T& by_name(const std::vector<T>& ts, const std::string& name) {
    for (const T& t : ts)
        if (t.name == name) return t;
    throw std::runtime_error("no tensor " + name);
}

}  // namespace

// apply()'s rebuild of `dcx` against the plain reference: every 2-D tensor a record of
// method `id` (`name`), rebuilt as f32(base) + the product of the record's factors (plus
// hybrid's residual, decoded symbol by symbol), rounded to the dtype (within the last
// bit: the BLAS sums in its own order); the report's error is the reference's.
// Returns the rebuilt tensors.
std::map<std::string, std::vector<uint8_t>> expect_reference_rebuild(const std::string& base_path,
                                                                     const std::string& dcx, const CompressReport& rep,
                                                                     const std::vector<T>& base,
                                                                     const std::vector<T>& ft, unsigned id,
                                                                     const std::string& name) {
    const auto recs = records(read_bytes(dcx));
    MapSink sink;
    apply(base_path, dcx, sink);
    size_t checked = 0;
    for (const TensorReport& tr : rep.tensors) {
        const auto& [method_id, payload] = recs.at(tr.name);
        if (tr.name == "norm.weight") {
            EXPECT_EQ(tr.kind, "exact");
            continue;
        }
        EXPECT_EQ(method_id, id) << tr.name;
        EXPECT_EQ(tr.method, name);
        EXPECT_EQ(tr.kind, "coded");
        const RefRecord c = parse_ref(payload);
        if (id == 5) {
            EXPECT_EQ(c.bits.size(), std::min<uint64_t>(8, std::min(c.rows, c.cols))) << tr.name;
        }
        std::vector<double> d = ref_product(c);
        if (id == 8) {
            const std::vector<double> e = ref_residual(payload, c.end, c.rows, c.cols);
            for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<float>(d[i]) + static_cast<float>(e[i]);
        }
        const T& b = by_name(base, tr.name);
        const T& f = by_name(ft, tr.name);
        const std::vector<double> bv = decode(b.dtype, b.bytes.data(), c.rows * c.cols);
        const std::vector<double> fv = decode(f.dtype, f.bytes.data(), c.rows * c.cols);
        const std::vector<uint8_t>& got = sink.tensors.at(tr.name);
        const std::vector<double> out = decode(f.dtype, got.data(), c.rows * c.cols);
        double dmax = 0, err2 = 0, ref2 = 0;
        for (const double x : d) dmax = std::max(dmax, std::fabs(x));
        size_t bad = 0;
        for (uint64_t i = 0; i < d.size(); ++i) {
            const double want = static_cast<float>(bv[i]) + static_cast<float>(d[i]);
            if (std::fabs(out[i] - want) > ulp(f.dtype, std::fabs(want)) + 1e-5 * dmax) ++bad;
            const double delta = static_cast<double>(static_cast<float>(fv[i]) - static_cast<float>(bv[i]));
            err2 += (d[i] - delta) * (d[i] - delta);
            ref2 += delta * delta;
        }
        EXPECT_EQ(bad, 0u) << tr.name;
        EXPECT_NEAR(tr.ref2, ref2, 1e-9 * ref2) << tr.name;
        // hybrid measures its residual's error (the same up to f32 rounding of L̂ + Ê)
        EXPECT_NEAR(tr.err2, err2, 1e-4 * err2 + (id == 8 ? 1e-9 : 1e-12) * ref2) << tr.name;
        ++checked;
    }
    EXPECT_EQ(checked, ft.size() - 1);
    return sink.tensors;
}

// apply() rebuilds f32(base) + the reference product of the record's factors, and the
// report's error is the reference's (old code: no method 5; --method lowrank refused).
TEST_F(LowRank, RebuildMatchesThePlainReference) {
    const CompressReport rep = make(dir / "lr.dcx", 8, false);
    const auto got = expect_reference_rebuild(base_path, dir / "lr.dcx", rep, base, ft, 5, "lowrank");
    // zstd changes the blobs' bytes, not what they hold.
    make(dir / "z.dcx");
    MapSink z;
    apply(base_path, dir / "z.dcx", z);
    EXPECT_EQ(got, z.tensors);
}

// A merged LoRA (an exactly rank-4 delta) comes back with the factors' quantization
// error only at rank ≥ 4; at rank 3 the fourth direction is lost. The 120×100 matrix
// takes the randomized path (sketch 14 < 100, one power iteration).
TEST_F(LowRank, ExactlyLowRankDeltaIsRecovered) {
    const uint64_t rows = 120, cols = 100;
    const std::vector<double> v = gaussian(rows * cols, 0.05, 5);
    write_safetensors(base_path, {make_tensor("layer.w", DType::F32, {rows, cols}, v)});
    write_safetensors(
        ft_path, {make_tensor("layer.w", DType::F32, {rows, cols}, low_rank_fine_tune(v, rows, cols, 4, 1e-3, 0, 9))});
    double e3 = 0;
    bits = 8;
    for (const unsigned rank : {3u, 4u, 6u, 16u}) {
        const CompressReport rep = make(dir / "l.dcx", rank);
        ASSERT_EQ(rep.tensors.size(), 1u);
        const TensorReport& t = rep.tensors[0];
        ASSERT_EQ(t.method, "lowrank");
        std::printf("rank-4 delta at rank %u, 8-bit factors: rel. error %.5f, %.3f bit/param\n", rank, t.rel_error(),
                    t.bits_per_param());
        if (rank == 3) {
            e3 = t.rel_error();
            EXPECT_GT(e3, 0.1);
        } else {
            EXPECT_LT(t.rel_error(), 0.02) << rank;  // 8-bit factors: about 0.6% each
        }
    }
    EXPECT_GT(e3, 0);
}

// Under a rate target, method `id`'s analyse() offers points in increasing bytes with
// decreasing error; each point's bytes are what encode() writes (exactly, or within
// `byte_tol` of them: ideal code lengths) and its error is within `err_tol` of what
// encode() measures on its rebuild. Exact SVD (200×150) and randomized (600×530:
// sketch 266) on a rank-16 + noise delta. Returns the 200×150 curve.
RdCurve expect_ladder_matches_encode(const std::string& base_path, const std::string& ft_path, unsigned id,
                                     double byte_tol, double err_tol) {
    RdCurve first;
    for (const auto& [rows, cols] : {std::pair<uint64_t, uint64_t>{200, 150}, {600, 530}}) {
        const std::vector<double> v = gaussian(rows * cols, 0.05, 21);
        write_safetensors(base_path, {make_tensor("w", DType::F16, {rows, cols}, v)});
        write_safetensors(ft_path, {make_tensor("w", DType::F16, {rows, cols},
                                                low_rank_fine_tune(v, rows, cols, 16, 2e-3, 2e-4, 22))});
        const Checkpoint bc = Checkpoint::open(base_path), fc = Checkpoint::open(ft_path);
        TensorInput in;
        in.ft = fc.find("w");
        in.base = bc.find("w");
        const MethodTraits& m = method(MethodId{static_cast<uint8_t>(id)});
        EXPECT_TRUE(m.applicable(in));
        CompressOptions opt;
        opt.method = std::string(m.name);
        opt.bpp = 1;
        const RdCurve c = m.analyse(in, opt);
        EXPECT_GT(c.points.size(), 10u);
        for (size_t i = 1; i < c.points.size(); ++i) {
            EXPECT_GT(c.points[i].bytes, c.points[i - 1].bytes);
            EXPECT_LT(*c.points[i].err2, *c.points[i - 1].err2);
        }
        ThreadPool pool(3);
        Scratch scratch;
        EncodeContext ec{pool, scratch};
        size_t checked = 0;
        for (size_t i = 0; i < c.points.size(); i += std::max<size_t>(1, c.points.size() / 8)) {
            const RdPoint& p = c.points[i];
            const std::optional<EncodedRecord> rec = m.encode(in, opt, p, ec);
            if (!rec) {
                ADD_FAILURE() << "encode declined";
                break;
            }
            ByteWriter w;
            rec->write(w);
            const double got = static_cast<double>(w.buf.size());
            EXPECT_NEAR(static_cast<double>(p.bytes), got, byte_tol * got) << rows << " point " << i;
            std::printf(
                "%s %llux%llu setting %08x: %7llu bytes (%7zu written), err2/ref2 estimated %.5f, measured "
                "%.5f\n",
                std::string(m.name).c_str(), static_cast<unsigned long long>(rows),
                static_cast<unsigned long long>(cols), p.setting, static_cast<unsigned long long>(p.bytes),
                w.buf.size(), *p.err2 / rec->ref2, rec->err2 / rec->ref2);
            EXPECT_NEAR(*p.err2, rec->err2, err_tol * rec->err2 + 1e-9 * rec->ref2)
                << rows << "x" << cols << " setting " << p.setting;
            ++checked;
        }
        EXPECT_GE(checked, 8u);
        if (first.points.empty()) first = c;
    }
    return first;
}

// lowrank's ladder: ranks × widths, bytes exact, the error estimate within 1%.
TEST_F(LowRank, RateLadderEstimatesMatchEncode) {
    expect_ladder_matches_encode(base_path, ft_path, 5, 0, 0.01);
    // Without a target: one point, the configured rank at the default 4 bits.
    const Checkpoint bc = Checkpoint::open(base_path), fc = Checkpoint::open(ft_path);
    TensorInput in;
    in.ft = fc.find("w");
    in.base = bc.find("w");
    CompressOptions opt;
    opt.method = "lowrank";
    opt.rank = 5;
    const RdCurve one = deltacodec::method(MethodId{5}).analyse(in, opt);
    ASSERT_EQ(one.points.size(), 1u);
    EXPECT_EQ(one.points[0].setting, (4u << 24) | 5u);
}

// info names the method, verifies the blobs and shows --rank; the CLI gives the library's bytes.
TEST_F(LowRank, WorksFromTheCliAndInfo) {
    const RunResult c = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "cli.dcx", "--method", "lowrank", "--rank", "8", "--include", "."},
        dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    EXPECT_NE(c.out.find(": lowrank"), std::string::npos) << c.out;
    make(dir / "lib.dcx", 8);
    EXPECT_EQ(read_bytes(dir / "cli.dcx"), read_bytes(dir / "lib.dcx"));
    const RunResult i = run_cli({"info", "--json", dir / "cli.dcx"}, dir.path());
    ASSERT_EQ(i.rc, 0) << i.err;
    const json j = json::parse(i.out);
    EXPECT_EQ(j["tensors"][0]["method"], "lowrank");
    EXPECT_EQ(j["options"]["method"], "lowrank");
    EXPECT_EQ(j["options"]["rank"], "8");
    EXPECT_FALSE(j["options"].contains("patch"));
    make(dir / "r16.dcx", 16);  // the default: not recorded (files made without --rank keep their bytes)
    const DcxInfo r16 = info(dir / "r16.dcx");
    for (const auto& [k, val] : r16.options) EXPECT_NE(k, "rank");
    EXPECT_EQ(r16.count("coded"), ft.size() - 1);
    const RunResult d = run_cli({"decompress", base_path, dir / "cli.dcx", "-o", dir / "out.safetensors"}, dir.path());
    ASSERT_EQ(d.rc, 0) << d.err;
    MapSink sink;
    apply(base_path, dir / "lib.dcx", sink);
    const Checkpoint out = Checkpoint::open(dir / "out.safetensors");
    for (const auto& [name, bytes] : sink.tensors) {
        const TensorRef* t = out.find(name);
        ASSERT_NE(t, nullptr) << name;
        EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), t->data())) << name;
    }
    const RunResult bad = run_cli({"compress", base_path, ft_path, "-o", dir / "x.dcx", "--rank", "8"}, dir.path());
    EXPECT_EQ(bad.rc, 2) << bad.err;
    EXPECT_NE(bad.err.find("--rank 8 applies to --method lowrank|svdmix|hybrid only"), std::string::npos) << bad.err;
    // --rank-bits 3 (the default is 4): every column of every record at 3 bits, recorded.
    const RunResult b3 = run_cli({"compress", base_path, ft_path, "-o", dir / "b3.dcx", "--method", "lowrank", "--rank",
                                  "8", "--rank-bits", "3", "--include", "."},
                                 dir.path());
    ASSERT_EQ(b3.rc, 0) << b3.err;
    const DcxInfo i3 = info(dir / "b3.dcx");
    for (const DcxTensor& t : i3.tensors)
        if (t.method == "lowrank") {
            EXPECT_EQ(t.widths, std::vector<int>{3}) << t.name;
        }
    EXPECT_EQ(json::parse(i3.to_json())["options"]["rank_bits"], "3");
    EXPECT_LT(fs::file_size(dir / "b3.dcx"), fs::file_size(dir / "cli.dcx"));
    const RunResult zero = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "lowrank", "--rank", "0"}, dir.path());
    EXPECT_EQ(zero.rc, 2) << zero.err;
    const RunResult nine = run_cli(
        {"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "lowrank", "--rank-bits", "9"}, dir.path());
    EXPECT_EQ(nine.rc, 2) << nine.err;
    EXPECT_NE(nine.err.find("--rank-bits '9' is out of range 1..8"), std::string::npos) << nine.err;
    EXPECT_FALSE(fs::exists(dir / "x.dcx"));
}

// The .dcx and the rebuild are the same bytes at 1 and 4 threads.
TEST_F(LowRank, BytesDoNotDependOnTheThreadCount) {
    const uint64_t rows = 300, cols = 260;  // several GEMM blocks and tiles
    const std::vector<double> v = gaussian(rows * cols, 0.05, 31);
    base.push_back(make_tensor("big", DType::BF16, {rows, cols}, v));
    ft.push_back(make_tensor("big", DType::BF16, {rows, cols}, perturb(v, rows, cols, 0.004, 32)));
    write_safetensors(base_path, base);
    write_safetensors(ft_path, ft);
    expect_same_bytes_at_1_and_4_threads(40);
}

// A delta holding NaN or infinity is not lowrank's: the tensor falls back to exact.
TEST_F(LowRank, NonFiniteDeltaFallsBackToExact) {
    expect_non_finite_falls_back(ft, ft_path, base_path, dir / "nf.dcx", 777, std::numeric_limits<double>::quiet_NaN(),
                                 "lowrank", [&](const std::string& out) { return make(out); });
}

// Hostile records: each refused by info and by apply with an Error naming the tensor.
TEST_F(LowRank, CorruptRecordsAreRefused) {
    make(dir / "lr.dcx", 8, false);
    const std::vector<uint8_t> good = read_bytes(dir / "lr.dcx");
    DcxSection sec{};
    for (const DcxSection& s : dcx_sections(good)) {
        if (s.type != static_cast<uint32_t>(SectionType::TENSOR)) continue;
        ByteReader r(good.data() + s.offset, s.size, "test");
        if (read_prefix(r).name == "a.f32") sec = s;
    }
    ASSERT_GT(sec.size, 0u);
    const std::vector<uint8_t> p0(good.begin() + sec.offset, good.begin() + sec.offset + sec.size);
    const RefRecord rec = parse_ref(p0);  // a.f32: 70 x 45, rank 8, 4-bit codes
    ASSERT_EQ(rec.bits.size(), 8u);
    auto put_u32 = [](std::vector<uint8_t>& p, size_t at, uint32_t v) {
        for (int i = 0; i < 4; ++i) p[at + i] = static_cast<uint8_t>(v >> (8 * i));
    };
    struct Case {
        std::string what, expect;
        std::vector<uint8_t> payload;
    };
    std::vector<Case> cases;
    auto add = [&](std::string what, std::string expect, auto edit) {
        std::vector<uint8_t> p = p0;
        edit(p);
        cases.push_back({std::move(what), std::move(expect), std::move(p)});
    };
    add("rank 0", "lowrank rank 0 is not in 1..45", [&](auto& p) { put_u32(p, rec.rank_at, 0); });
    add("rank above the shape", "lowrank rank 46 is not in 1..45", [&](auto& p) { put_u32(p, rec.rank_at, 46); });
    add("rank above the columns present", "lowrank column 8 has a width of 0 bits",
        [&](auto& p) { put_u32(p, rec.rank_at, 40); });
    add("truncated factors", "truncated or corrupt record", [&](auto& p) { p.resize(p.size() - 10); });
    add("cut in the column table", "truncated or corrupt record", [&](auto& p) { p.resize(rec.cols_at + 12); });
    add("width 0", "lowrank column 2 has a width of 0 bits", [&](auto& p) { p[rec.cols_at + 2 * 5] = 0; });
    add("width 9", "lowrank column 0 has a width of 9 bits", [&](auto& p) { p[rec.cols_at] = 9; });
    add("NaN scale", "lowrank scale of column 3 is not a finite number", [&](auto& p) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(&p[rec.cols_at + 3 * 5 + 1], &nan, 4);
    });
    add("negative scale", "lowrank scale of column 1 is not a finite number",
        [&](auto& p) { p[rec.cols_at + 5 + 1 + 3] |= 0x80; });
    add("infinite scale", "lowrank scale of column 0 is not a finite number", [&](auto& p) {
        const float inf = std::numeric_limits<float>::infinity();
        std::memcpy(&p[rec.cols_at + 1], &inf, 4);
    });
    add("a narrower width: U blob too long", "lowrank U codes blob is not the size",
        [&](auto& p) { p[rec.cols_at + 7 * 5] = 3; });
    add("U blob one byte short", "lowrank U codes blob is not the size", [&](auto& p) {
        for (const size_t off : {size_t{1}, size_t{9}}) {
            uint64_t n = 0;
            for (int i = 7; i >= 0; --i) n = n << 8 | p[rec.ublob_at + off + i];
            --n;
            for (int i = 0; i < 8; ++i) p[rec.ublob_at + off + i] = static_cast<uint8_t>(n >> (8 * i));
        }
        p.erase(p.begin() + static_cast<long>(rec.vblob_at) - 1);
    });
    for (const Case& c : cases) {
        write_bytes(dir / "bad.dcx", with_payload(good, sec, c.payload));
        expect_refused(dir / "bad.dcx", base_path, "a.f32", c.expect, c.what);
    }
}

// Padding bits after a column's codes (a 4-bit column of 45 codes ends half-way
// into a byte) are refused by info and apply, naming the column.
TEST_F(LowRank, PaddingBitsAreRefused) {
    make(dir / "lr.dcx", 3, false);
    const std::vector<uint8_t> good = read_bytes(dir / "lr.dcx");
    for (const DcxSection& s : dcx_sections(good)) {
        if (s.type != static_cast<uint32_t>(SectionType::TENSOR)) continue;
        std::vector<uint8_t> p(good.begin() + s.offset, good.begin() + s.offset + s.size);
        ByteReader r(p.data(), p.size(), "test");
        if (read_prefix(r).name != "a.f32") continue;
        const RefRecord rec = parse_ref(p);  // 70 x 45, rank 3; rewritten with 7-bit codes
        // Rewrite as 7-bit codes of the same values' low bits: 45·7 = 315 bits = 39.375 bytes.
        std::vector<uint8_t> q(p.begin(), p.begin() + static_cast<long>(rec.cols_at));
        for (int j = 0; j < 3; ++j) {
            q.push_back(7);
            q.insert(q.end(), p.begin() + static_cast<long>(rec.cols_at + j * 5 + 1),
                     p.begin() + static_cast<long>(rec.cols_at + j * 5 + 5));
        }
        auto blob = [&](uint64_t per_col, uint8_t last) {
            ByteWriter w;
            std::vector<uint8_t> codes(3 * per_col, 0x55);
            for (int j = 0; j < 3; ++j) codes[(j + 1) * per_col - 1] = j == 1 ? last : 0x01;
            w.blob(codes.data(), codes.size(), false);
            return w.buf;
        };
        const std::vector<uint8_t> u = blob((70 * 7 + 7) / 8, 0x01), v = blob((45 * 7 + 7) / 8, 0xF5);
        q.insert(q.end(), u.begin(), u.end());
        q.insert(q.end(), v.begin(), v.end());
        write_bytes(dir / "bad.dcx", with_payload(good, s, q));
        expect_refused(dir / "bad.dcx", base_path, "a.f32", "padding bits set after column 1 of V", "padding");
        // The same record with clean padding is accepted.
        const std::vector<uint8_t> vok = blob((45 * 7 + 7) / 8, 0x01);
        q.resize(q.size() - v.size());
        q.insert(q.end(), vok.begin(), vok.end());
        write_bytes(dir / "ok.dcx", with_payload(good, s, q));
        EXPECT_NO_THROW(info(dir / "ok.dcx"));
        MapSink sink;
        EXPECT_NO_THROW(apply(base_path, dir / "ok.dcx", sink));
        return;
    }
    FAIL() << "no record of a.f32";
}

namespace {

// A pair of one 200×150 F32 tensor whose delta is rank 16 with decaying directions
// (A·Bᵀ, column j scaled by 1/(1 + j)) plus Gaussian noise of `noise`.
void write_low_rank_pair(const std::string& base_path, const std::string& ft_path, double noise) {
    const uint64_t rows = 200, cols = 150;
    const std::vector<double> v = gaussian(rows * cols, 0.05, 41);
    write_safetensors(base_path, {make_tensor("w", DType::F32, {rows, cols}, v)});
    write_safetensors(
        ft_path, {make_tensor("w", DType::F32, {rows, cols}, low_rank_fine_tune(v, rows, cols, 16, 2e-3, noise, 42))});
}

// compress(base, ft) with `method` under --bpp `bpp`: the one tensor's report.
TensorReport at_target(const std::string& base_path, const std::string& ft_path, const std::string& out,
                       const std::string& method, double bpp) {
    CompressOptions o;
    o.method = method;
    o.bpp = bpp;
    o.include = ".";
    o.overwrite = true;
    const CompressReport rep = compress(base_path, ft_path, out, o);
    EXPECT_EQ(rep.tensors.size(), 1u);
    EXPECT_EQ(rep.tensors.at(0).method, method);
    std::printf("%-8s at %.3g bit/param: %6llu bytes, rel. error %.5f\n", method.c_str(), bpp,
                static_cast<unsigned long long>(fs::file_size(out)), rep.tensors.at(0).rel_error());
    return rep.tensors.at(0);
}

// Under --bpp `bpp`, method `a` rebuilds the pair with less error than method `b`, in a
// file no more than 3% larger.
void expect_less_error_at_target(const std::string& base_path, const std::string& ft_path, const std::string& dir,
                                 const std::string& a, const std::string& b, double bpp) {
    const TensorReport ra = at_target(base_path, ft_path, dir + "/a.dcx", a, bpp);
    const TensorReport rb = at_target(base_path, ft_path, dir + "/b.dcx", b, bpp);
    EXPECT_LT(ra.err2, rb.err2) << a << " against " << b << " at " << bpp;
    EXPECT_LE(fs::file_size(dir + "/a.dcx"), fs::file_size(dir + "/b.dcx") * 103 / 100) << a << " against " << b;
}

// The least error of method `name`'s ladder for the tensor "w" within `bytes`.
double best_within(const std::string& base_path, const std::string& ft_path, const char* name, uint64_t bytes) {
    const Checkpoint bc = Checkpoint::open(base_path), fc = Checkpoint::open(ft_path);
    TensorInput in;
    in.ft = fc.find("w");
    in.base = bc.find("w");
    CompressOptions opt;
    opt.method = name;
    opt.bpp = 1;
    double e = std::numeric_limits<double>::infinity();
    for (const RdPoint& p : find_method(name)->analyse(in, opt).points)
        if (p.bytes <= bytes) e = std::min(e, *p.err2);
    return e;
}

// The payload of the one record of `name` in `dcx`, and its section.
std::pair<std::vector<uint8_t>, DcxSection> record_of(const std::vector<uint8_t>& f, const std::string& name) {
    for (const DcxSection& s : dcx_sections(f)) {
        if (s.type != static_cast<uint32_t>(SectionType::TENSOR)) continue;
        ByteReader r(f.data() + s.offset, s.size, "test");
        if (read_prefix(r).name == name) return {{f.begin() + s.offset, f.begin() + s.offset + s.size}, s};
    }
    ADD_FAILURE() << "no record of " << name;
    return {};
}

// The record `p0` of "a.f32" (section `sec` of `good`) changed by edit(payload) is
// refused by info and apply with an Error naming the tensor and holding `expect`.
template <typename Edit>
void expect_edit_refused(const std::vector<uint8_t>& good, const DcxSection& sec, const std::vector<uint8_t>& p0,
                         const std::string& bad, const std::string& base_path, const std::string& what,
                         const std::string& expect, Edit edit) {
    std::vector<uint8_t> p = p0;
    edit(p);
    write_bytes(bad, with_payload(good, sec, p));
    expect_refused(bad, base_path, "a.f32", expect, what);
}

// Random damage to every record of method `id` in `dcx`: each mutant decodes or is
// refused with an Error, nothing else; some are refused.
void expect_mutants_decode_or_are_refused(const std::string& dcx, const std::string& base_path, const std::string& dir,
                                          unsigned id) {
    const std::vector<uint8_t> good = read_bytes(dcx);
    std::vector<DcxSection> secs;
    for (const DcxSection& s : dcx_sections(good)) {
        if (s.type != static_cast<uint32_t>(SectionType::TENSOR)) continue;
        ByteReader r(good.data() + s.offset, s.size, "test");
        if (static_cast<unsigned>(read_prefix(r).method) == id) secs.push_back(s);
    }
    ASSERT_FALSE(secs.empty());
    std::mt19937_64 rng(2027 + id);
    int n_refused = 0;
    for (int m = 0; m < 120; ++m) {
        const DcxSection& s = secs[rng() % secs.size()];
        std::vector<uint8_t> p(good.begin() + s.offset, good.begin() + s.offset + s.size);
        const size_t body = parse_ref(p).body;
        flip_random_bits(p, body, rng);
        write_bytes(dir + "/m.dcx", with_payload(good, s, p));
        n_refused += refused(dir + "/m.dcx", base_path);
    }
    EXPECT_GT(n_refused, 0);
}

}  // namespace

// Random damage to lowrank records (checksums repaired): every mutant decodes or
// is refused with an Error; nothing else.
TEST_F(LowRank, MutatedRecordsDecodeOrAreRefused) {
    make(dir / "lr.dcx", 6);
    expect_mutants_decode_or_are_refused(dir / "lr.dcx", base_path, dir.path(), 5);
}

// ---- svdmix (method 7): lowrank's record, a width per singular direction ----------

// svdmix's records are lowrank's layout under method byte 7: apply() rebuilds the
// plain reference's product (old code: no method 7; --method svdmix refused).
TEST_F(LowRank, SvdMixRebuildMatchesThePlainReference) {
    method = "svdmix";
    const CompressReport rep = make(dir / "sm.dcx", 8, false);
    expect_reference_rebuild(base_path, dir / "sm.dcx", rep, base, ft, 7, "svdmix");
}

// Without a target svdmix spends what lowrank spends at --rank 8 --rank-bits 4 (no
// more raw bytes), in mixed widths, and keeps more of a delta whose directions
// decay: a lower error for no more bytes.
TEST_F(LowRank, SvdMixSpendsLowranksBudgetBetter) {
    write_low_rank_pair(base_path, ft_path, 1e-5);
    const CompressReport lr = make(dir / "lr.dcx", 8, false);
    method = "svdmix";
    const CompressReport sm = make(dir / "sm.dcx", 8, false);
    const auto [lp, ls] = record_of(read_bytes(dir / "lr.dcx"), "w");
    const auto [sp, ss] = record_of(read_bytes(dir / "sm.dcx"), "w");
    const RefRecord s = parse_ref(sp);
    EXPECT_EQ(s.method, 7u);
    std::printf("lowrank rank 8 x 4 bits: %zu bytes, rel. error %.5f; svdmix: %zu bytes, rel. error %.5f, widths",
                lp.size(), lr.tensors[0].rel_error(), sp.size(), sm.tensors[0].rel_error());
    for (const int b : s.bits) std::printf(" %d", b);
    std::printf("\n");
    EXPECT_LE(sp.size(), lp.size());
    EXPECT_LT(sm.tensors[0].err2, 0.9 * lr.tensors[0].err2);
    EXPECT_GT(std::set<int>(s.bits.begin(), s.bits.end()).size(), 1u);  // mixed widths
    EXPECT_GE(s.bits.front(), s.bits.back());                           // the largest direction gets the most
}

// svdmix's ladder: bytes exact, the error estimate (lowrank's) within 1%. On a delta
// whose directions decay, its ladder reaches less error than lowrank's within the
// same bytes (0.5 and 1 bit/param; at 2 both reach the noise), and so does rate
// control at 1 bit/param.
TEST_F(LowRank, SvdMixRateLadderAndTargets) {
    expect_ladder_matches_encode(base_path, ft_path, 7, 0, 0.01);
    write_low_rank_pair(base_path, ft_path, 1e-5);
    for (const double bpp : {0.5, 1.0}) {
        const uint64_t bytes = static_cast<uint64_t>(bpp * 200 * 150 / 8);
        const double sm = best_within(base_path, ft_path, "svdmix", bytes),
                     lr = best_within(base_path, ft_path, "lowrank", bytes);
        std::printf("within %llu bytes: svdmix err2 %.4g, lowrank %.4g\n", static_cast<unsigned long long>(bytes), sm,
                    lr);
        EXPECT_LT(sm, 0.95 * lr) << bpp;
    }
    expect_less_error_at_target(base_path, ft_path, dir.path(), "svdmix", "lowrank", 1);
}

// The .dcx and the rebuild are the same bytes at 1 and 4 threads (svdmix and hybrid;
// hybrid's 600×530 residual takes two chunks of 448 rows).
TEST_F(LowRank, SvdMixAndHybridBytesDoNotDependOnTheThreadCount) {
    const uint64_t rows = 600, cols = 530;
    const std::vector<double> v = gaussian(rows * cols, 0.05, 31);
    base.push_back(make_tensor("big", DType::BF16, {rows, cols}, v));
    ft.push_back(make_tensor("big", DType::BF16, {rows, cols}, low_rank_fine_tune(v, rows, cols, 8, 2e-3, 3e-4, 32)));
    write_safetensors(base_path, base);
    write_safetensors(ft_path, ft);
    for (const char* m : {"svdmix", "hybrid"}) {
        method = m;
        expect_same_bytes_at_1_and_4_threads(12);
    }
}

// hybrid joins rate control only when named: a bare target offers every other lossy method.
TEST(HybridChoice, OfferedUnderATargetOnlyWhenNamed) {
    CompressOptions o;
    o.bpp = 3;
    EXPECT_EQ(method_chosen(*find_method("hybrid"), o), "");
    EXPECT_EQ(method_chosen(*find_method("ecsq"), o), "ecsq");
    EXPECT_EQ(method_chosen(*find_method("svdmix"), o), "svdmix");
    o.method = "ecsq,hybrid";
    EXPECT_EQ(method_chosen(*find_method("hybrid"), o), "hybrid");
    o.method = "hybrid";
    o.bpp = 0;
    EXPECT_EQ(method_chosen(*find_method("hybrid"), o), "hybrid");
}

// Hostile svdmix records are refused naming svdmix and the tensor; mutants decode or are refused.
TEST_F(LowRank, SvdMixCorruptRecordsAreRefused) {
    method = "svdmix";
    make(dir / "sm.dcx", 8, false);
    const std::vector<uint8_t> good = read_bytes(dir / "sm.dcx");
    const auto [p0, sec] = record_of(good, "a.f32");
    const RefRecord rec = parse_ref(p0);
    auto bad = [&](const std::string& what, const std::string& expect, auto edit) {
        expect_edit_refused(good, sec, p0, dir / "bad.dcx", base_path, what, expect, edit);
    };
    bad("rank 0", "svdmix rank 0 is not in 1..45", [&](auto& p) { std::fill_n(p.begin() + rec.rank_at, 4, 0); });
    bad("width 9", "svdmix column 0 has a width of 9 bits", [&](auto& p) { p[rec.cols_at] = 9; });
    bad("truncated", "truncated or corrupt record", [&](auto& p) { p.resize(p.size() - 3); });
    expect_mutants_decode_or_are_refused(dir / "sm.dcx", base_path, dir.path(), 7);
}

// The CLI: --method svdmix with --rank and --rank-bits; info names it and its widths.
TEST_F(LowRank, SvdMixWorksFromTheCli) {
    const RunResult c = run_cli({"compress", base_path, ft_path, "-o", dir / "cli.dcx", "--method", "svdmix", "--rank",
                                 "8", "--rank-bits", "3", "--include", "."},
                                dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    method = "svdmix";
    bits = 3;
    make(dir / "lib.dcx", 8);
    EXPECT_EQ(read_bytes(dir / "cli.dcx"), read_bytes(dir / "lib.dcx"));
    const json j = json::parse(run_cli({"info", "--json", dir / "cli.dcx"}, dir.path()).out);
    EXPECT_EQ(j["tensors"][0]["method"], "svdmix");
    EXPECT_EQ(j["options"]["rank"], "8");
    EXPECT_EQ(j["options"]["rank_bits"], "3");
    const RunResult bad =
        run_cli({"compress", base_path, ft_path, "-o", dir / "x.dcx", "--method", "ecsq", "--rank", "8"}, dir.path());
    EXPECT_EQ(bad.rc, 2) << bad.err;
    EXPECT_NE(bad.err.find("--rank 8 applies to --method lowrank|svdmix|hybrid only"), std::string::npos) << bad.err;
}

// ---- hybrid (method 8): lowrank's factors + ecsq's residual ------------------------

// apply() rebuilds f32(base) + the reference product + the reference residual.
TEST_F(LowRank, HybridRebuildMatchesThePlainReference) {
    method = "hybrid";
    const CompressReport rep = make(dir / "hy.dcx", 4, false);
    expect_reference_rebuild(base_path, dir / "hy.dcx", rep, base, ft, 8, "hybrid");
}

// hybrid's ladder over (rank, step): bytes within 1% (ecsq's ideal code lengths),
// err2 the residual's, exact.
TEST_F(LowRank, HybridRateLadderEstimatesMatchEncode) {
    const RdCurve c = expect_ladder_matches_encode(base_path, ft_path, 8, 0.01, 1e-6);
    std::set<uint32_t> ranks;
    for (const RdPoint& p : c.points) ranks.insert(p.setting & 0xFFFFFF);
    EXPECT_GT(ranks.size(), 2u);  // the hull takes several ranks
}

// A delta that is exactly low rank plus noise (14% of its energy): at the same bytes,
// from 1.5 to 3 bits/param, hybrid's ladder reaches less error than lowrank's (which
// cannot afford the noise's rank) and than ecsq's (which pays for the low-rank part
// element by element); then the same through compress at 2 bits/param.
TEST_F(LowRank, HybridBeatsLowrankAndEcsqOnLowRankPlusNoise) {
    write_low_rank_pair(base_path, ft_path, 1e-3);
    for (const double bpp : {1.5, 2.0, 3.0}) {
        const uint64_t bytes = static_cast<uint64_t>(bpp * 200 * 150 / 8);
        const double hy = best_within(base_path, ft_path, "hybrid", bytes),
                     lr = best_within(base_path, ft_path, "lowrank", bytes),
                     eq = best_within(base_path, ft_path, "ecsq", bytes);
        std::printf("within %llu bytes: hybrid err2 %.4g, lowrank %.4g, ecsq %.4g\n",
                    static_cast<unsigned long long>(bytes), hy, lr, eq);
        EXPECT_LT(hy, 0.9 * lr) << bpp;
        EXPECT_LT(hy, 0.9 * eq) << bpp;
    }
    expect_less_error_at_target(base_path, ft_path, dir.path(), "hybrid", "lowrank", 2);
}

// Hostile hybrid records: the factors' and the residual's fields checked, naming
// hybrid and the tensor; a residual chunk that does not start on a tile is refused.
TEST_F(LowRank, HybridCorruptRecordsAreRefused) {
    method = "hybrid";
    make(dir / "hy.dcx", 4, false);
    const std::vector<uint8_t> good = read_bytes(dir / "hy.dcx");
    const auto [p0, sec] = record_of(good, "a.f32");  // 70 x 45: chunks of 64 rows
    const RefRecord rec = parse_ref(p0);
    const size_t rpc_at = rec.end + 4 + 4 + 1 + 4 * 4;
    auto bad = [&](const std::string& what, const std::string& expect, auto edit) {
        expect_edit_refused(good, sec, p0, dir / "bad.dcx", base_path, what, expect, edit);
    };
    bad("rank 0", "hybrid rank 0 is not in 1..45", [&](auto& p) { std::fill_n(p.begin() + rec.rank_at, 4, 0); });
    bad("NaN step", "hybrid step is not a finite number", [&](auto& p) {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        std::memcpy(&p[rec.end], &nan, 4);
    });
    bad("rows per chunk 0", "hybrid rows per chunk is not in 1..rows", [&](auto& p) { std::fill_n(&p[rpc_at], 4, 0); });
    bad("truncated", "truncated or corrupt record", [&](auto& p) { p.resize(p.size() - 3); });
    // Chunks of 35 rows (two, as of 64): an index ecsq would take, but not on a tile boundary.
    ASSERT_EQ(p0[rpc_at], 64);
    bad("chunk of 35 rows", "hybrid rows per chunk 35 is not a multiple of 64 or the row count",
        [&](auto& p) { p[rpc_at] = 35; });
    expect_mutants_decode_or_are_refused(dir / "hy.dcx", base_path, dir.path(), 8);
}
