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
#include "methods/ecsq.hpp"

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
namespace ecsq {

constexpr float kRounding = 0.35f;           // θ: the encoder's rounding offset (dead zone 2·(1 − θ)·step)
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

// magnitude() of n values at once, each |x|·(1/step) and the zigzag symbol of
// q = ±|q| (a loop the compiler vectorises: |q| ≤ 2^30 fits 32 bits).
void magnitudes(const float* d, uint64_t n, float inv, float* a, int32_t* m, uint32_t* z) {
    for (uint64_t j = 0; j < n; ++j) {
        const float p = std::fabs(d[j]) * inv;
        const int32_t q = static_cast<int32_t>(std::min(p + kRounding, static_cast<float>(kMaxQ)));
        const int32_t neg = d[j] < 0 ? 1 : 0;
        a[j] = p;
        m[j] = q;
        z[j] = static_cast<uint32_t>(2 * q - (q != 0 ? neg : 0));
    }
}

// Values per block of the encoder's row loops (scratch on the stack).
constexpr unsigned kBlock = 2048;

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

// One pass over rows 0, stride, 2·stride, … (every row: stride 1): every step's
// statistics. A value is 0 at every step coarser than the first where it is not, so
// it counts there once (suffix sums).
// The ladder's steps (relative to the RMS of rows 0, stride, 2·stride, …), Σx² and
// the rows seen; finite false (and no steps) when a value is not finite.
Ladder ladder_of_rows(uint64_t rows, uint64_t cols, uint64_t stride, const RowReader& read) {
    std::vector<float> d(cols), tmp(cols);
    Ladder l;
    for (uint64_t r = 0; r < rows; r += stride) {
        ++l.rows_seen;
        read(r, d.data(), tmp.data());
        if (!kernels().all_finite(d.data(), cols)) {
            l.finite = false;
            return l;
        }
        for (uint64_t j = 0; j < cols; ++j) l.ref2 += static_cast<double>(d[j]) * d[j];
    }
    const double rms = std::sqrt(l.ref2 / static_cast<double>(l.rows_seen * cols));
    l.steps.resize(kLadderSteps);
    for (int i = 0; i < kLadderSteps; ++i) {
        const double s = rms > 0 ? rms * std::exp2(kLadderTop - 0.5 * i) : std::exp2(-i);
        l.steps[i] = std::max(static_cast<float>(s), std::numeric_limits<float>::min());
    }
    return l;
}

std::optional<std::vector<float>> ladder_steps(uint64_t rows, uint64_t cols, uint64_t stride, const RowReader& read) {
    Ladder l = ladder_of_rows(rows, cols, stride, read);
    if (!l.finite) return std::nullopt;
    return std::move(l.steps);
}

Ladder measure(uint64_t rows, uint64_t cols, uint64_t stride, const RowReader& read) {
    Ladder l = ladder_of_rows(rows, cols, stride, read);
    if (!l.finite) return l;
    std::vector<float> d(cols), tmp(cols);
    const int n = kLadderSteps;
    l.stats.resize(n);
    std::vector<float> inv(n);
    for (int i = 0; i < n; ++i) inv[i] = 1.0f / l.steps[i];
    std::vector<uint64_t> zero_n(n + 1, 0);
    std::vector<double> zero_x2(n + 1, 0);
    for (uint64_t r = 0; r < rows; r += stride) {
        read(r, d.data(), tmp.data());
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

LadderPoints ladder(uint64_t rows, uint64_t cols, uint64_t rpc, uint64_t stride, const RowReader& read,
                    bool projection) {
    const Ladder l = measure(rows, cols, stride, read);
    LadderPoints out;
    out.finite = l.finite;
    out.ref2 = l.ref2;
    out.rows_seen = l.rows_seen;
    if (!l.finite) return out;
    const uint64_t chunks = (rows + rpc - 1) / rpc;
    for (size_t i = 0; i < l.steps.size(); ++i) {
        StepPoint p;
        p.step = l.steps[i];
        p.bytes = payload_bytes(l.stats[i], chunks) - 9;  // after the base
        p.code_bytes = code_bytes(l.stats[i], table_of(l.stats[i]));
        p.err2 = err2_of(l.stats[i], recon_of(l.stats[i], l.ref2, l.steps[i], projection), l.steps[i]);
        out.steps.push_back(p);
    }
    return out;
}

// The delta's rows, read from the pair.
RowReader delta_rows(const TensorInput& in) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, fi.shape[0], fi.shape[1]};
    return [dv](uint64_t r, float* d, float* tmp) { dv.read_rows(r, 1, d, tmp); };
}

RdCurve ecsq_analyse(const TensorInput& in, const CompressOptions& opt) {
    const uint64_t rows = in.ft->info->shape[0], cols = in.ft->info->shape[1];
    const uint64_t chunks = (rows + rows_per_chunk(rows, cols) - 1) / rows_per_chunk(rows, cols);
    // Under a target every row (err2 exact); otherwise a sample of the rows picks the step.
    const uint64_t stride =
        rate_controlled(opt) ? 1 : std::max<uint64_t>(1, rows * cols / std::max<uint64_t>(kSampleValues, cols));
    const Ladder l = measure(rows, cols, stride, delta_rows(in));
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

// The first pass over a chunk's rows at one step: its histogram, the buckets' sums
// and Σx², bit for bit what count() value by value gives (each bucket's sums take
// the same terms in the same order; the counts are integers), without its costs:
// the sums in registers, no branch on the value, and the histogram in four copies
// (no store-to-load chain on repeated symbols). Per block of a row, each value's
// (|q|, t) goes to its bucket's list (list 0: the zeros, unused), then the lists
// are summed in order.
class FirstPass {
public:
    explicit FirstPass(float inv) : inv_(inv) {}
    /// One row of finite values.
    void row(const float* d, uint64_t cols) {
        for (uint64_t j0 = 0; j0 < cols; j0 += kBlock) block(d + j0, std::min<uint64_t>(kBlock, cols - j0));
    }
    /// Adds the chunk's statistics to `s` (which must be zero on entry); returns Σx².
    double finish(StepStats& s) const {
        for (unsigned z = 0; z < rans::kMaxSymbols; ++z)
            s.hist[z] = hist_[0][z] + hist_[1][z] + hist_[2][z] + hist_[3][z];
        s.esc_bytes = esc_bytes_;
        std::copy(b_, b_ + kBuckets, s.b);
        return ref_;
    }

private:
    static_assert(kBuckets == 4 && kBlock < 4096, "five 12-bit counts in one word");
    void block(const float* d, uint64_t n) {
        float a[kBlock];
        int32_t mag[kBlock];
        uint32_t zz[kBlock];
        uint16_t lists[(kBuckets + 1) * kBlock];  // per bucket (0: the zeros, unused), the values' indices
        magnitudes(d, n, inv_, a, mag, zz);
        uint64_t counts = 0;  // 12 bits per list
        double ref = ref_;
        uint64_t esc = esc_bytes_;
        for (uint64_t j = 0; j < n; ++j) {
            const float ax = std::fabs(d[j]);
            ref += static_cast<double>(ax) * ax;
            const uint32_t z = zz[j];
            if (z >= rans::kEscape) {
                ++hist_[0][rans::kEscape];
                esc += rans::varint_bytes(z - rans::kEscape);
            } else {
                ++hist_[j & 3][z];
            }
            const uint32_t k = static_cast<uint32_t>(std::min<int32_t>(mag[j], kBuckets));
            lists[k * kBlock + ((counts >> (12 * k)) & 0xFFF)] = static_cast<uint16_t>(j);
            counts += uint64_t{1} << (12 * k);
        }
        ref_ = ref;
        esc_bytes_ = esc;
        // Buckets 1 and 2, then 3 and 4, each pair interleaved (its 12 sums in registers).
        auto add = [&](Bucket& b, uint16_t j) {
            const int32_t m = mag[j];
            b.add(static_cast<double>(m), static_cast<double>(a[j]) - m);
        };
        for (unsigned k = 0; k < kBuckets; k += 2) {
            Bucket b0 = b_[k], b1 = b_[k + 1];
            const uint16_t* l0 = lists + (k + 1) * kBlock;
            const uint16_t* l1 = lists + (k + 2) * kBlock;
            const uint64_t n0 = (counts >> (12 * (k + 1))) & 0xFFF, n1 = (counts >> (12 * (k + 2))) & 0xFFF;
            uint64_t i = 0;
            for (; i < std::min(n0, n1); ++i) add(b0, l0[i]), add(b1, l1[i]);
            for (uint64_t e = i; e < n0; ++e) add(b0, l0[e]);
            for (uint64_t e = i; e < n1; ++e) add(b1, l1[e]);
            b_[k] = b0, b_[k + 1] = b1;
        }
    }

    float inv_;
    uint64_t hist_[4][rans::kMaxSymbols] = {};
    uint64_t esc_bytes_ = 0;
    Bucket b_[kBuckets];
    double ref_ = 0;
};

std::optional<std::shared_ptr<const Code>> encode_rows(uint64_t rows, uint64_t cols, uint64_t rpc, float step,
                                                       bool projection, const RowReader& read, EncodeContext& ec) {
    const float inv = 1.0f / step;
    const uint64_t chunks = (rows + rpc - 1) / rpc;
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
        FirstPass pass(inv);
        for (uint64_t r = c * rpc; r < c * rpc + chunk_rows(c); ++r) {
            read(r, d.data(), tmp.data());
            if (!kernels().all_finite(d.data(), cols)) {
                finite = false;
                return;
            }
            pass.row(d.data(), cols);
        }
        ref[c] = pass.finish(part[c]);
        if (ec.progress) ec.progress->within(++done, 2 * chunks);
    });
    if (!finite) return std::nullopt;  // NaN or infinity in the delta: the next candidate
    StepStats all;
    double ref2 = 0;
    for (uint64_t c = 0; c < chunks; ++c) all.merge(part[c]), ref2 += ref[c];
    part = {};
    const rans::Table table = table_of(all);
    const rans::Encoder coder(table);
    const Recon rc = recon_of(all, ref2, step, projection);

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
        thread_local std::vector<float> dv, tmpv;
        thread_local std::vector<uint8_t> symv, esc;
        dv.resize(cols);
        tmpv.resize(cols);
        const uint64_t n = chunk_rows(c) * cols;
        symv.resize(n);
        esc.clear();
        float* const d = dv.data();
        uint8_t* const syms = symv.data();
        double e2 = 0;
        float a[kBlock];
        int32_t mag[kBlock];
        uint32_t zz[kBlock];
        for (uint64_t r = c * rpc, k = 0; r < c * rpc + chunk_rows(c); ++r) {
            read(r, d, tmpv.data());
            for (uint64_t j0 = 0; j0 < cols; j0 += kBlock) {
                const uint64_t w = std::min<uint64_t>(kBlock, cols - j0);
                const float* x = d + j0;
                magnitudes(x, w, inv, a, mag, zz);
                for (uint64_t j = 0; j < w; ++j, ++k) {
                    const uint32_t z = zz[j];
                    float v;
                    if (z < rans::kEscape) {
                        syms[k] = static_cast<uint8_t>(z);
                        v = lut[z];
                    } else {
                        syms[k] = rans::kEscape;
                        rans::put_varint(esc, z - rans::kEscape);
                        v = rebuild(mag[j], rc.offsets, kBuckets, step, rc.gain);
                        if (x[j] < 0) v = -v;
                    }
                    const double e = static_cast<double>(x[j]) - v;
                    e2 += e * e;
                }
            }
        }
        err[c] = e2;
        std::vector<uint8_t>& out = streams[c];
        out.reserve(n / 4 + esc.size() + 64);
        rans_len[c] = coder.encode(syms, n, out);
        out.insert(out.end(), esc.begin(), esc.end());
        if (ec.progress) ec.progress->within(++done, 2 * chunks);
    });
    auto code = std::make_shared<Code>();
    for (uint64_t c = 0; c < chunks; ++c) code->err2 += err[c];
    code->ref2 = ref2;
    uint64_t total = 0;
    for (const auto& s : streams) total += s.size();
    uint8_t* data = ec.scratch.get(total + 1);
    std::vector<uint64_t> lens(2 * chunks);
    uint64_t at = 0;
    for (uint64_t c = 0; c < chunks; ++c) {
        std::memcpy(data + at, streams[c].data(), streams[c].size());
        at += streams[c].size();
        lens[2 * c] = rans_len[c];
        lens[2 * c + 1] = streams[c].size() - rans_len[c];
        streams[c] = {};
    }
    code->step = step;
    std::copy(rc.offsets, rc.offsets + kBuckets, code->offsets);
    code->gain = rc.gain;
    code->rpc = rpc;
    code->table = table;
    code->lens = std::move(lens);
    code->data = data;
    code->total = total;
    return code;
}

void Code::write(ByteWriter& w) const {
    w.f32(step);
    w.f32(gain);
    w.u8(kBuckets);
    for (float o : offsets) w.f32(o);
    w.u32(static_cast<uint32_t>(rpc));
    rans::write_table(w, table);
    for (uint64_t v : lens) w.u64(v);
    w.blob(data, total, false);  // rANS output: zstd would not shrink it
}

std::optional<EncodedRecord> ecsq_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                         EncodeContext& ec) {
    const uint64_t rows = in.ft->info->shape[0], cols = in.ft->info->shape[1];
    float step = bits_float(point.setting);
    if (!std::isfinite(step) || step <= 0) step = 1;
    const std::optional<std::shared_ptr<const Code>> code =
        encode_rows(rows, cols, rows_per_chunk(rows, cols), step, opt.ecsq_projection, delta_rows(in), ec);
    if (!code) return std::nullopt;  // NaN or infinity in the delta: the next candidate
    EncodedRecord rec;
    rec.err2 = (*code)->err2;
    rec.ref2 = (*code)->ref2;
    rec.unchanged = rec.ref2 == 0;
    const TensorRef* base = in.base;
    rec.write = [base, c = *code](ByteWriter& w) {
        write_float_base(w, *base);
        c->write(w);
    };
    return rec;
}

// ---- decode --------------------------------------------------------------------------

float Residual::value(int64_t q) const {
    const float v = rebuild(std::abs(q), offsets, k, step, gain);
    return q < 0 ? -v : v;
}

void Residual::lut_of(float* lut) const {
    lut[0] = 0;
    for (unsigned z = 1; z < rans::kEscape; ++z) lut[z] = value(rans::unzigzag(z));
}

void Residual::verify(const std::string& ctx) const {
    const rans::Decoder dec(table);
    float lut[rans::kEscape];
    lut_of(lut);
    for (uint64_t c = 0; c < chunks; ++c) decode_chunk(dec, lut, c, ctx, nullptr, [](uint64_t, const float*) {});
}

void Residual::read(ByteReader& r, uint64_t rows_, uint64_t cols_, const char* method_) {
    method = method_, rows = rows_, cols = cols_;
    const std::string name = method;
    step = r.f32();
    if (!std::isfinite(step) || step <= 0) r.fail(name + " step is not a finite number > 0");
    gain = r.f32();
    if (!std::isfinite(gain)) r.fail(name + " gain is not finite");
    k = r.u8();
    if (k < 1 || k > kMaxBuckets) r.fail(name + " record has " + std::to_string(k) + " offsets (1..16)");
    for (unsigned i = 0; i < k; ++i) {
        offsets[i] = r.f32();
        if (!(std::fabs(offsets[i]) <= 1)) r.fail(name + " reconstruction offset is not in [-1, 1]");
    }
    rpc = r.u32();
    if (rpc < 1 || rpc > rows) r.fail(name + " rows per chunk is not in 1..rows");
    chunks = (rows + rpc - 1) / rpc;
    table = rans::read_table(r);
    // The chunk index lies in the record: its size bounds the allocation.
    const uint8_t* idx = r.bytes(16 * chunks);
    lens.resize(2 * chunks);
    at.resize(chunks);
    uint64_t total = 0;
    for (uint64_t i = 0; i < 2 * chunks; ++i) {
        uint64_t v = 0;
        for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(idx[8 * i + b]) << (8 * b);
        if (v > (uint64_t{1} << 60)) r.fail(name + " chunk length out of range");
        lens[i] = v;
        if (i % 2 == 0) at[i / 2] = total;
        total += v;
    }
    stream = r.blob_ref();
    if (stream.codec != 0) r.fail(name + " stream blob is not stored");
    if (stream.raw != total) r.fail(name + " chunk lengths do not add up to the stream blob");
}

namespace {

struct EcsqBody final : RecordBody {
    FloatBase base;
    Residual res;

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        const TensorSpec& spec = dc.spec;
        const size_t es = dtype_size(spec.dtype), bs = dtype_size(base.dtype);
        const uint64_t rows = res.rows, cols = res.cols, rpc = res.rpc;
        // The base first: its tensor really exists, so it bounds the sizes the record declares.
        const TensorRef& b = dc.base_tensor(base.dtype, spec.shape, base.fingerprint);
        const rans::Decoder dec(res.table);
        float lut[rans::kEscape];
        res.lut_of(lut);
        for_each_band(dc, res.chunks, rpc * cols * es, [&](uint64_t c0, uint64_t c1) {
            const uint64_t r0 = c0 * rpc, r1 = std::min(rows, c1 * rpc);
            uint8_t* out = sink.band_buffer((r1 - r0) * cols * es + 1);
            dc.pool.parallel_for(c1 - c0, [&](size_t i) {
                thread_local std::vector<float> tmp;
                tmp.resize(cols);
                res.chunk(dec, lut, c0 + i, dc.ctx, [&](uint64_t r, const float* delta) {
                    add_to_base_row(base.dtype, b.data() + r * cols * bs, delta, spec.dtype, out + (r - r0) * cols * es,
                                    cols, tmp.data());
                });
            });
            sink.put(out, (r1 - r0) * cols * es);
        });
        b.release();
    }

    std::optional<uint64_t> base_fingerprint() const override { return base.fingerprint; }

    void describe(const std::string& ctx, DcxTensor&) const override { res.verify(ctx); }
};

std::unique_ptr<const RecordBody> ecsq_parse(ByteReader& r, const TensorSpec& spec) {
    auto b = std::make_unique<EcsqBody>();
    b->base = read_float_base(r, spec);
    if (spec.shape[0] == 0 || spec.shape[1] == 0) r.fail("ecsq record of an empty tensor");
    b->res.read(r, spec.shape[0], spec.shape[1], "ecsq");
    return b;
}

}  // namespace
}  // namespace ecsq

extern const MethodTraits kEcsqMethod{MethodId{4},
                                      "ecsq",
                                      "coded",
                                      MethodRole::LOSSY,
                                      "dead-zone uniform quantizer + rANS entropy coding, one step per tensor",
                                      is_2d_float_delta,
                                      ecsq::ecsq_analyse,
                                      ecsq::ecsq_encode,
                                      ecsq::ecsq_parse,
                                      nullptr,
                                      nullptr,
                                      nullptr,
                                      one_row};

}  // namespace deltacodec
