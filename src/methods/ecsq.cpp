// deltacodec — method 4, ecsq (entropy-constrained scalar quantization, issue 10):
// each element x of the 2-D delta is quantized with one step size per tensor and a
// dead zone, q = sign(x)·⌊|x|/step + θ⌋ (θ = kRounding < ½: values just past a
// half step still go to 0, which is what makes small rates cheap), and rebuilt as
// Δ̂ = sign(q)·(|q| + o_k)·step·gain, where o_k is a per-tensor reconstruction
// offset (the centroid of the values quantized to |q| = k, for k = 1..K−1, and one
// for every |q| ≥ K) and gain is one f32 per tensor: 1 (least squared error: the
// centroids) or, with `--ecsq-gain projection`, ‖Δ‖²/⟨Δ̃,Δ⟩, which keeps the
// fine-tune's change along its own direction (⟨Δ̂,Δ⟩ = ‖Δ‖²) instead of shrinking it.
// The symbols (zigzag of q, an escape past 254) are coded by the static rANS coder
// of codec/rans.hpp with one frequency table per tensor, in independent chunks of
// rows, so both directions run in parallel over chunks and the bytes do not depend
// on the thread count. FORMAT.md "ECSQ".
//
// analyse(): a ladder of step sizes, geometric (ratio √2) relative to the delta's
// RMS, from about 0.02 to about 8 bits/param on a Gaussian delta; one pass over the
// delta gives every step's histogram and the sums that its squared error, its
// centroids and its gain follow from (exactly), and so its payload size (the
// table, the ideal code lengths, the framing). Without a rate target the one point
// is the step whose predicted entropy is `--ecsq-bits` (default 2) bits/param,
// interpolated between the ladder's steps.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "codec/kernels.hpp"
#include "codec/rans.hpp"
#include "deltacodec/error.hpp"
#include "methods/method.hpp"

namespace deltacodec {
namespace {

constexpr float kRounding = 0.35f;           // θ: the encoder's rounding offset (dead zone 2·(1 − θ)·step)
constexpr unsigned kBuckets = 4;             // K: offsets for |q| = 1, 2, 3 and one for |q| ≥ 4
constexpr unsigned kMaxBuckets = 16;         // what a reader accepts
constexpr uint64_t kChunkSymbols = 1 << 18;  // symbols per chunk (whole rows, at least one)
constexpr int64_t kMaxQ = int64_t{1} << 30;  // |q| is clamped here (a step far below the values)
constexpr int kLadderTop = 3;                // the coarsest step: RMS · 2^3
constexpr int kLadderSteps = 25;             // down to RMS · 2^-9, by √2
// The fixed fields after the base: step, gain, K, offsets, rows per chunk.
constexpr uint64_t kFixedBytes = 9 + 4 + 4 + 1 + 4 * kBuckets + 4;

float bits_float(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
uint32_t float_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

uint64_t rows_per_chunk(uint64_t rows, uint64_t cols) {
    return std::min<uint64_t>(rows, std::max<uint64_t>(1, kChunkSymbols / cols));
}

// |q| for |x| at 1/step (the encoder's and analyse's one rule).
inline int64_t magnitude(float ax, float inv) {
    const float a = ax * inv + kRounding;
    return a >= static_cast<float>(kMaxQ) ? kMaxQ : static_cast<int64_t>(a);
}

// What the decoder rebuilds for |q| = m ≥ 1 (before the sign), in f32.
inline float rebuild(int64_t m, const float* offsets, unsigned k, float step, float gain) {
    const float o = offsets[std::min<uint64_t>(static_cast<uint64_t>(m), k) - 1];
    return (static_cast<float>(m) + o) * step * gain;
}

// The sums the squared error, centroids and gain follow from, for the values
// quantized to one bucket (|q| = k, or ≥ K): t = |x|/step − |q|.
struct Bucket {
    double n = 0, m1 = 0, m2 = 0, t1 = 0, t2 = 0, mt = 0;
    void add(double m, double t) { n += 1, m1 += m, m2 += m * m, t1 += t, t2 += t * t, mt += m * t; }
    void merge(const Bucket& b) { n += b.n, m1 += b.m1, m2 += b.m2, t1 += b.t1, t2 += b.t2, mt += b.mt; }
};

// One step's statistics over (part of) the delta.
struct StepStats {
    uint64_t hist[rans::kMaxSymbols] = {};
    uint64_t esc_bytes = 0;
    Bucket b[kBuckets];
    double zero_x2 = 0;  // Σx² of the values quantized to 0
    void merge(const StepStats& s) {
        for (unsigned i = 0; i < rans::kMaxSymbols; ++i) hist[i] += s.hist[i];
        esc_bytes += s.esc_bytes;
        for (unsigned k = 0; k < kBuckets; ++k) b[k].merge(s.b[k]);
        zero_x2 += s.zero_x2;
    }
};

// A nonzero |q| = m of sign `neg` into the statistics.
inline void count(StepStats& s, int64_t m, bool neg, float a) {
    const uint64_t z = 2 * static_cast<uint64_t>(m) - neg;
    if (z >= rans::kEscape) {
        ++s.hist[rans::kEscape];
        s.esc_bytes += rans::varint_bytes(z - rans::kEscape);
    } else {
        ++s.hist[z];
    }
    s.b[std::min<uint64_t>(static_cast<uint64_t>(m), kBuckets) - 1].add(static_cast<double>(m),
                                                                        static_cast<double>(a) - m);
}

// The reconstruction a step's statistics give: offsets (the centroids) and gain, as stored (f32).
struct Recon {
    float offsets[kBuckets] = {};
    float gain = 1;
};

Recon recon_of(const StepStats& s, double ref2, float step, bool projection) {
    Recon r;
    double inner = 0;  // ⟨Δ̃, Δ⟩ / step²
    for (unsigned k = 0; k < kBuckets; ++k) {
        const Bucket& b = s.b[k];
        if (b.n > 0) r.offsets[k] = static_cast<float>(b.t1 / b.n);
        const double o = r.offsets[k];
        inner += b.m2 + b.mt + o * (b.m1 + b.t1);
    }
    inner *= static_cast<double>(step) * step;
    if (projection && inner > 0) {
        const float g = static_cast<float>(ref2 / inner);
        if (std::isfinite(g)) r.gain = g;
    }
    return r;
}

// ‖Δ̂ − Δ‖² from the statistics: per bucket Σ((g − 1)m + g·o − t)²·step², plus the zeros' Σx².
double err2_of(const StepStats& s, const Recon& r, float step) {
    const double g = r.gain, h = g - 1;
    double e = 0;
    for (unsigned k = 0; k < kBuckets; ++k) {
        const Bucket& b = s.b[k];
        const double go = g * r.offsets[k];
        e += h * h * b.m2 + b.n * go * go + b.t2 + 2 * h * go * b.m1 - 2 * h * b.mt - 2 * go * b.t1;
    }
    return std::max(0.0, e) * step * step + s.zero_x2;
}

// The entropy table of a step's histogram: symbols up to the last one counted.
rans::Table table_of(const StepStats& s) {
    size_t n = rans::kMaxSymbols;
    while (n > 1 && s.hist[n - 1] == 0) --n;
    if (s.hist[0] == 0 && n == 1) {  // nothing counted (never: a tensor has elements)
        const uint64_t one = 1;
        return rans::normalize(&one, 1);
    }
    return rans::normalize(s.hist, n);
}

// The symbols' bytes: the rANS streams at their ideal length, and the escapes.
uint64_t code_bytes(const StepStats& s, const rans::Table& t) {
    return static_cast<uint64_t>(std::ceil(rans::cost_bits(s.hist, t.freq.size(), t) / 8)) + s.esc_bytes;
}
// The payload bytes encode() writes for these statistics: the code, each stream's
// final states, the table, the chunk index and the fixed fields.
uint64_t payload_bytes(const StepStats& s, uint64_t chunks) {
    const rans::Table t = table_of(s);
    return kFixedBytes + rans::table_bytes(t) + 16 * chunks + kBlobHeaderBytes + chunks * rans::kStreamOverhead +
           code_bytes(s, t);
}

struct Ladder {
    std::vector<float> steps;  // coarse to fine
    std::vector<StepStats> stats;
    double ref2 = 0;
    bool finite = true;
    uint64_t rows_seen = 0;
};

// Without a rate target, the step is chosen on every `stride`-th row, about this many values.
constexpr uint64_t kSampleValues = 1 << 20;

// One pass over rows 0, stride, 2·stride, … of the delta (every row: stride 1): every
// step's statistics. A value is 0 at every step coarser than the first where it is
// not, so it counts there once (suffix sums).
Ladder measure(const TensorInput& in, uint64_t stride) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const uint64_t rows = fi.shape[0], cols = fi.shape[1];
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, rows, cols};
    std::vector<float> d(cols), tmp(cols);
    Ladder l;
    for (uint64_t r = 0; r < rows; r += stride) {
        ++l.rows_seen;
        dv.read_rows(r, 1, d.data(), tmp.data());
        if (!kernels().all_finite(d.data(), cols)) {
            l.finite = false;
            return l;
        }
        for (uint64_t j = 0; j < cols; ++j) l.ref2 += static_cast<double>(d[j]) * d[j];
    }
    const double rms = std::sqrt(l.ref2 / static_cast<double>(l.rows_seen * cols));
    const int n = kLadderSteps;
    l.steps.resize(n);
    l.stats.resize(n);
    std::vector<float> inv(n);
    for (int i = 0; i < n; ++i) {
        const double s = rms > 0 ? rms * std::exp2(kLadderTop - 0.5 * i) : std::exp2(-i);
        l.steps[i] = std::max(static_cast<float>(s), std::numeric_limits<float>::min());
        inv[i] = 1.0f / l.steps[i];
    }
    std::vector<uint64_t> zero_n(n + 1, 0);
    std::vector<double> zero_x2(n + 1, 0);
    for (uint64_t r = 0; r < rows; r += stride) {
        dv.read_rows(r, 1, d.data(), tmp.data());
        for (uint64_t j = 0; j < cols; ++j) {
            const float ax = std::fabs(d[j]);
            const bool neg = d[j] < 0;
            int i = n - 1;
            for (; i >= 0; --i) {
                const int64_t m = magnitude(ax, inv[i]);
                if (m == 0) break;
                count(l.stats[i], m, neg, ax * inv[i]);
            }
            // zero at steps 0..i: counted at i, summed over i ≥ k for step k below
            ++zero_n[i + 1];
            zero_x2[i + 1] += static_cast<double>(ax) * ax;
        }
    }
    uint64_t zn = 0;
    double zx = 0;
    for (int k = n - 1; k >= 0; --k) {
        zn += zero_n[k + 1], zx += zero_x2[k + 1];
        l.stats[k].hist[0] = zn;
        l.stats[k].zero_x2 = zx;
    }
    return l;
}

RdCurve ecsq_analyse(const TensorInput& in, const CompressOptions& opt) {
    const uint64_t rows = in.ft->info->shape[0], cols = in.ft->info->shape[1];
    const uint64_t chunks = (rows + rows_per_chunk(rows, cols) - 1) / rows_per_chunk(rows, cols);
    // Under a target every row (err2 exact); otherwise a sample of the rows picks the step.
    const uint64_t stride =
        rate_controlled(opt) ? 1 : std::max<uint64_t>(1, rows * cols / std::max<uint64_t>(kSampleValues, cols));
    const Ladder l = measure(in, stride);
    RdCurve c;
    if (!l.finite) {  // encode() declines; one point that no allocator prefers
        RdPoint p;
        p.bytes = rows * cols * 8;
        p.setting = float_bits(1.0f);
        c.points.push_back(p);
        return c;
    }
    if (rate_controlled(opt)) {
        // Increasing bytes (a finer step never costs less; keep the order strict).
        for (size_t i = 0; i < l.steps.size(); ++i) {
            RdPoint p;
            p.bytes = payload_bytes(l.stats[i], chunks);
            p.err2 = err2_of(l.stats[i], recon_of(l.stats[i], l.ref2, l.steps[i], opt.ecsq_projection), l.steps[i]);
            p.setting = float_bits(l.steps[i]);
            if (c.points.empty() || p.bytes > c.points.back().bytes) c.points.push_back(p);
        }
        return c;
    }
    // The step whose symbols take `ecsq_bits` per parameter (the framing aside: a
    // small tensor still gets its share), log-step interpolated between the ladder's;
    // the sample's code bytes scaled to the tensor. Bytes estimated, err2 not measured.
    const double target = opt.ecsq_bits * static_cast<double>(rows * cols) / 8;
    const double scale = static_cast<double>(rows) / static_cast<double>(l.rows_seen);
    std::vector<double> code(l.steps.size());
    std::vector<RdPoint> pts(l.steps.size());
    for (size_t i = 0; i < pts.size(); ++i) {
        const uint64_t cb = code_bytes(l.stats[i], table_of(l.stats[i]));
        code[i] = static_cast<double>(cb) * scale;
        pts[i].bytes = payload_bytes(l.stats[i], chunks) - cb + static_cast<uint64_t>(code[i]);
        pts[i].setting = float_bits(l.steps[i]);
    }
    size_t i = 0;
    while (i + 1 < pts.size() && code[i + 1] < target) ++i;
    RdPoint p = pts[i];
    if (i + 1 < pts.size() && code[i] < target) {
        const double f = code[i + 1] > code[i] ? (target - code[i]) / (code[i + 1] - code[i]) : 0;
        p.setting = float_bits(static_cast<float>(l.steps[i] * std::exp2(-0.5 * f)));
        p.bytes =
            static_cast<uint64_t>(static_cast<double>(p.bytes) + f * static_cast<double>(pts[i + 1].bytes - p.bytes));
    }
    return RdCurve{{p}};
}

// ---- encode --------------------------------------------------------------------------

std::optional<EncodedRecord> ecsq_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                         EncodeContext& ec) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const uint64_t rows = fi.shape[0], cols = fi.shape[1];
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, rows, cols};
    float step = bits_float(point.setting);
    if (!std::isfinite(step) || step <= 0) step = 1;
    const float inv = 1.0f / step;
    const uint64_t rpc = rows_per_chunk(rows, cols), chunks = (rows + rpc - 1) / rpc;
    std::atomic<bool> finite{true};
    std::atomic<uint64_t> done{0};
    auto chunk_rows = [&](uint64_t c) { return std::min(rows, (c + 1) * rpc) - c * rpc; };

    // Pass 1: the histogram and the buckets' sums, per chunk (summed in chunk order).
    std::vector<StepStats> part(chunks);
    std::vector<double> ref(chunks, 0);
    ec.pool.parallel_for(chunks, [&](size_t c) {
        thread_local std::vector<float> d, tmp;
        d.resize(cols);
        tmp.resize(cols);
        StepStats& s = part[c];
        for (uint64_t r = c * rpc; r < c * rpc + chunk_rows(c); ++r) {
            dv.read_rows(r, 1, d.data(), tmp.data());
            if (!kernels().all_finite(d.data(), cols)) {
                finite = false;
                return;
            }
            for (uint64_t j = 0; j < cols; ++j) {
                const float ax = std::fabs(d[j]);
                ref[c] += static_cast<double>(ax) * ax;
                const int64_t m = magnitude(ax, inv);
                if (m == 0)
                    ++s.hist[0];
                else
                    count(s, m, d[j] < 0, ax * inv);
            }
        }
        if (ec.progress) ec.progress->within(++done, 2 * chunks);
    });
    if (!finite) return std::nullopt;  // NaN or infinity in the delta: the next candidate
    StepStats all;
    double ref2 = 0;
    for (uint64_t c = 0; c < chunks; ++c) all.merge(part[c]), ref2 += ref[c];
    part = {};
    const rans::Table table = table_of(all);
    const Recon rc = recon_of(all, ref2, step, opt.ecsq_projection);

    // Pass 2: symbols, escapes and the rebuilt values' error, then each chunk's stream.
    float lut[rans::kEscape];
    lut[0] = 0;
    for (unsigned z = 1; z < rans::kEscape; ++z) {
        const int64_t q = rans::unzigzag(z);
        const float v = rebuild(std::abs(q), rc.offsets, kBuckets, step, rc.gain);
        lut[z] = q < 0 ? -v : v;
    }
    std::vector<std::vector<uint8_t>> streams(chunks);
    std::vector<uint64_t> rans_len(chunks);
    std::vector<double> err(chunks, 0);
    ec.pool.parallel_for(chunks, [&](size_t c) {
        thread_local std::vector<float> d, tmp;
        thread_local std::vector<uint8_t> syms, esc;
        d.resize(cols);
        tmp.resize(cols);
        const uint64_t n = chunk_rows(c) * cols;
        syms.resize(n);
        esc.clear();
        double e2 = 0;
        for (uint64_t r = c * rpc, k = 0; r < c * rpc + chunk_rows(c); ++r) {
            dv.read_rows(r, 1, d.data(), tmp.data());
            for (uint64_t j = 0; j < cols; ++j, ++k) {
                const float ax = std::fabs(d[j]);
                const int64_t m = magnitude(ax, inv);
                const bool neg = d[j] < 0;
                const uint64_t z = m == 0 ? 0 : 2 * static_cast<uint64_t>(m) - neg;
                float v;
                if (z < rans::kEscape) {
                    syms[k] = static_cast<uint8_t>(z);
                    v = lut[z];
                } else {
                    syms[k] = rans::kEscape;
                    rans::put_varint(esc, z - rans::kEscape);
                    v = rebuild(m, rc.offsets, kBuckets, step, rc.gain);
                    if (neg) v = -v;
                }
                const double e = static_cast<double>(d[j]) - v;
                e2 += e * e;
            }
        }
        err[c] = e2;
        std::vector<uint8_t>& out = streams[c];
        out.reserve(n / 4 + esc.size() + 64);
        rans_len[c] = rans::encode(table, syms.data(), n, out);
        out.insert(out.end(), esc.begin(), esc.end());
        if (ec.progress) ec.progress->within(++done, 2 * chunks);
    });
    EncodedRecord rec;
    for (uint64_t c = 0; c < chunks; ++c) rec.err2 += err[c];
    rec.ref2 = ref2;
    rec.unchanged = ref2 == 0;
    std::vector<uint64_t> lens(2 * chunks);
    for (uint64_t c = 0; c < chunks; ++c) lens[2 * c] = rans_len[c], lens[2 * c + 1] = streams[c].size() - rans_len[c];
    uint64_t total = 0;
    const uint8_t* data = join_chunks(ec.scratch, streams, total);
    const TensorRef* base = in.base;
    rec.write = [base, step, rc, rpc, table, lens = std::move(lens), data, total](ByteWriter& w) {
        write_float_base(w, *base);
        w.f32(step);
        w.f32(rc.gain);
        w.u8(kBuckets);
        for (float o : rc.offsets) w.f32(o);
        w.u32(static_cast<uint32_t>(rpc));
        rans::write_table(w, table);
        for (uint64_t v : lens) w.u64(v);
        w.blob(data, total, false);  // rANS output: zstd would not shrink it
    };
    return rec;
}

// ---- decode --------------------------------------------------------------------------

struct EcsqBody final : RecordBody {
    FloatBase base;
    uint64_t rows = 0, cols = 0, rpc = 0, chunks = 0;
    float step = 0, gain = 0;
    unsigned k = 0;
    float offsets[kMaxBuckets] = {};
    rans::Table table;
    std::vector<uint64_t> lens;  // per chunk: rANS bytes, escape bytes
    std::vector<uint64_t> at;    // per chunk: its offset in the blob
    BlobRef stream;

    float value(int64_t q) const {
        const float v = rebuild(std::abs(q), offsets, k, step, gain);
        return q < 0 ? -v : v;
    }

    // Decodes chunk c, handing each row's delta to row(r, delta); checks the chunk's end.
    template <typename Row>
    void chunk(const rans::Decoder& dec, const float* lut, uint64_t c, const std::string& ctx, Row&& row) const {
        thread_local std::vector<uint8_t> syms;
        thread_local std::vector<float> delta;
        syms.resize(cols);
        delta.resize(cols);
        const uint8_t* p = stream.src + at[c];
        rans::Decoder::Stream st(dec, p, lens[2 * c], ctx);
        const uint8_t* e = p + lens[2 * c];
        const uint8_t* e_end = e + lens[2 * c + 1];
        for (uint64_t r = c * rpc; r < std::min(rows, (c + 1) * rpc); ++r) {
            st.get(syms.data(), cols);
            for (uint64_t j = 0; j < cols; ++j) {
                const uint8_t s = syms[j];
                if (s < rans::kEscape) {
                    delta[j] = lut[s];
                    continue;
                }
                uint64_t v = 0;
                if (!rans::get_varint(e, e_end, 5, v) || v > rans::zigzag(kMaxQ) - rans::kEscape)
                    throw Error(ctx + ": corrupt ecsq record (bad escape in chunk " + std::to_string(c) + ")");
                delta[j] = value(rans::unzigzag(v + rans::kEscape));
            }
            row(r, delta.data());
        }
        st.finish();
        if (e != e_end)
            throw Error(ctx + ": corrupt ecsq record (escape bytes left over in chunk " + std::to_string(c) + ")");
    }

    void lut_of(float* lut) const {
        lut[0] = 0;
        for (unsigned z = 1; z < rans::kEscape; ++z) lut[z] = value(rans::unzigzag(z));
    }

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        // The base first: its tensor really exists, so it bounds the sizes the record declares.
        const TensorRef& b = dc.base_tensor(base.dtype, dc.spec.shape, base.fingerprint);
        const rans::Decoder dec(table);
        float lut[rans::kEscape];
        lut_of(lut);
        rebuild_chunked(dc, sink, base.dtype, b, rows, cols, rpc,
                        [&](uint64_t c, auto&& row) { chunk(dec, lut, c, dc.ctx, row); });
        b.release();
    }

    std::optional<uint64_t> base_fingerprint() const override { return base.fingerprint; }

    void describe(const std::string& ctx, DcxTensor&) const override {
        const rans::Decoder dec(table);
        float lut[rans::kEscape];
        lut_of(lut);
        for (uint64_t c = 0; c < chunks; ++c) chunk(dec, lut, c, ctx, [](uint64_t, const float*) {});
    }
};

std::unique_ptr<const RecordBody> ecsq_parse(ByteReader& r, const TensorSpec& spec) {
    auto b = std::make_unique<EcsqBody>();
    b->base = read_float_base(r, spec);
    b->rows = spec.shape[0];
    b->cols = spec.shape[1];
    if (b->rows == 0 || b->cols == 0) r.fail("ecsq record of an empty tensor");
    const ScalarRecon sr = read_scalar_recon(r, "ecsq", -1);
    b->step = sr.step, b->gain = sr.gain, b->k = sr.k;
    std::copy(sr.offsets, sr.offsets + sr.k, b->offsets);
    b->rpc = r.u32();
    if (b->rpc < 1 || b->rpc > b->rows) r.fail("ecsq rows per chunk is not in 1..rows");
    b->chunks = (b->rows + b->rpc - 1) / b->rpc;
    b->table = rans::read_table(r);
    // The chunk index lies in the record: its size bounds the allocation.
    const uint8_t* idx = r.bytes(16 * b->chunks);
    b->lens.resize(2 * b->chunks);
    b->at.resize(b->chunks);
    uint64_t total = 0;
    for (uint64_t i = 0; i < 2 * b->chunks; ++i) {
        uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v |= static_cast<uint64_t>(idx[8 * i + k]) << (8 * k);
        if (v > (uint64_t{1} << 60)) r.fail("ecsq chunk length out of range");
        b->lens[i] = v;
        if (i % 2 == 0) b->at[i / 2] = total;
        total += v;
    }
    b->stream = r.blob_ref();
    if (b->stream.codec != 0) r.fail("ecsq stream blob is not stored");
    if (b->stream.raw != total) r.fail("ecsq chunk lengths do not add up to the stream blob");
    return b;
}

}  // namespace

extern const MethodTraits kEcsqMethod{MethodId{4},
                                      "ecsq",
                                      "coded",
                                      MethodRole::LOSSY,
                                      "dead-zone uniform quantizer + rANS entropy coding, one step per tensor",
                                      is_2d_float_delta,
                                      ecsq_analyse,
                                      ecsq_encode,
                                      ecsq_parse,
                                      nullptr,
                                      nullptr,
                                      nullptr,
                                      one_row};

}  // namespace deltacodec
