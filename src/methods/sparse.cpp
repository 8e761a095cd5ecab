// deltacodec — method 6, sparse (issue 10): keeps a subset of the 2-D delta's
// entries, quantizes them, zero elsewhere. Two keep rules (`--sparse-keep`):
//   magnitude  the k = round(f·n) entries of largest |Δ| (per tensor; ties at the
//              threshold τ = the k-th largest |Δ| all kept); positions are a bitmap
//              per chunk of rows, its bytes coded by the static rANS coder of
//              codec/rans.hpp (one table per tensor);
//   random     DARE's drop: entry i is kept when the top 32 bits of a counter-based
//              hash of (seed, i) fall below round(f·2^32); the seed is stored, so
//              positions cost nothing; τ = 0.
// A kept value x is quantized as a = (|x| − τ)/step, m = min(⌊a⌋, 2^30), symbol
// z = 2m + (x < 0) (an escape past 254, as ECSQ), and rebuilt as
// sign·(τ + (m + o_b)·step)·gain, o_b the centroid of the values with m = b (b < K−1)
// or m ≥ K−1, gain one f32 per tensor (`--sparse-gain`): 1 (mse), ‖Δ‖²/⟨Δ̃,Δ⟩
// (projection: the change along Δ kept, what a dropped entry's loss shrinks) or
// 1/q, q the fraction kept (dare). Value symbols are rANS-coded with their own table.
// Chunks of rows are independent (both directions parallel over chunks, bytes
// independent of the thread count). FORMAT.md "SPARSE".
//
// analyse(): under a rate target a ladder over keep fractions 2^(−j/2), j = 2..18,
// and value steps 2^(e/4) about the kept magnitudes' RMS (about 1..6 bits a kept
// value), each point's err2 and bytes computed exactly from one pass's statistics
// (the rANS streams at their ideal length); without one, the point that
// `--sparse-keep-frac` and `--sparse-bits` configure.
#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>

#include "codec/kernels.hpp"
#include "codec/rans.hpp"
#include "deltacodec/error.hpp"
#include "methods/method.hpp"

namespace deltacodec {
namespace {

constexpr unsigned kBuckets = 4;             // K: offsets for m = 0, 1, 2 and one for m ≥ 3
constexpr unsigned kMaxBuckets = 16;         // what a reader accepts
constexpr uint64_t kChunkSymbols = 1 << 18;  // elements per chunk (whole rows, at least one)
constexpr int64_t kMaxQ = int64_t{1} << 30;  // m is clamped here
constexpr int kLevels = 17;                  // keep fractions 2^(-j/2), j = 2..18
constexpr int kBitsLo = 2, kBitsHi = 12;     // value ladder: 2·bits from 1 to 6 by ½
constexpr uint32_t kOptLevel = 255;          // setting: the fraction is --sparse-keep-frac
constexpr int kExpBias = 1024;               // setting: step exponent e + bias, 12 bits
constexpr uint64_t kIndexBytes = 24;         // per chunk: positions, values, escape lengths

enum Keep : uint8_t { MAGNITUDE = 0, RANDOM = 1 };

uint64_t rows_per_chunk(uint64_t rows, uint64_t cols) {
    return std::min<uint64_t>(rows, std::max<uint64_t>(1, kChunkSymbols / cols));
}

double level_frac(uint32_t level) { return std::exp2(-0.5 * (level + 2)); }

// Keep rule `random`: whether entry i (row-major) is kept at threshold thr.
inline uint64_t mix(uint64_t seed, uint64_t i) {  // splitmix64's output for state seed + (i+1)·γ
    uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
inline bool random_kept(uint64_t seed, uint32_t thr, uint64_t i) { return (mix(seed, i) >> 32) < thr; }
uint32_t random_threshold(double frac) {
    return static_cast<uint32_t>(std::clamp(std::llround(frac * 4294967296.0), 1ll, 4294967295ll));
}
// The seed of a tensor: FNV-1a of its name (the same on every machine).
uint64_t seed_of(const std::string& name) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// step = 2^(e/4), exactly (no libm in the bytes).
float step_of(int e) {
    static constexpr float frac[4] = {1.0f, 1.18920712f, 1.41421356f, 1.68179283f};
    const int q = e >= 0 ? e / 4 : -((-e + 3) / 4);
    return std::ldexp(frac[e - 4 * q], q);
}
// The exponent e whose step is about `v` (v > 0).
int exp_of(double v) { return std::clamp(static_cast<int>(std::lround(4 * std::log2(v))), -580, 500); }

uint32_t setting_of(uint32_t level, int e) { return level | static_cast<uint32_t>(e + kExpBias) << 8; }

// What a point keeps and how it quantizes (encode's and analyse's one rule).
struct Quant {
    float tau = 0, step = 1, inv = 1;
};
inline int64_t magnitude(float ax, const Quant& q, float& t) {
    const float a = (ax - q.tau) * q.inv;
    if (a >= static_cast<float>(kMaxQ)) {
        t = 0;
        return kMaxQ;
    }
    const int64_t m = static_cast<int64_t>(a);
    t = a - static_cast<float>(m);
    return m;
}
inline float rebuild(int64_t m, const float* offsets, unsigned k, float tau, float step, float gain) {
    const float o = offsets[std::min<uint64_t>(static_cast<uint64_t>(m), k - 1)];
    return (tau + (static_cast<float>(m) + o) * step) * gain;
}

// Sums over one bucket's kept values (t = a − m): what its centroid, the gain and
// the squared error follow from.
struct Bucket {
    double n = 0, m1 = 0, m2 = 0, t1 = 0, t2 = 0, mt = 0;
    void add(double m, double t) { n += 1, m1 += m, m2 += m * m, t1 += t, t2 += t * t, mt += m * t; }
    void merge(const Bucket& b) { n += b.n, m1 += b.m1, m2 += b.m2, t1 += b.t1, t2 += b.t2, mt += b.mt; }
};

// One point's statistics over (part of) the delta.
struct Stats {
    uint64_t vals[rans::kMaxSymbols] = {};  // value symbols
    uint64_t esc_bytes = 0, kept = 0;
    Bucket b[kBuckets];
    double dropped_x2 = 0;  // Σx² of the entries not kept
    void merge(const Stats& s) {
        for (unsigned i = 0; i < rans::kMaxSymbols; ++i) vals[i] += s.vals[i];
        esc_bytes += s.esc_bytes, kept += s.kept, dropped_x2 += s.dropped_x2;
        for (unsigned k = 0; k < kBuckets; ++k) b[k].merge(s.b[k]);
    }
    // A kept value: its symbol (returned) into the histogram and the bucket sums.
    uint64_t add(float x, const Quant& q) {
        float t;
        const int64_t m = magnitude(std::fabs(x), q, t);
        const uint64_t z = 2 * static_cast<uint64_t>(m) + (x < 0);
        if (z >= rans::kEscape) {
            ++vals[rans::kEscape];
            esc_bytes += rans::varint_bytes(z - rans::kEscape);
        } else {
            ++vals[z];
        }
        b[std::min<uint64_t>(static_cast<uint64_t>(m), kBuckets - 1)].add(static_cast<double>(m), t);
        ++kept;
        return z;
    }
};

struct Recon {
    float offsets[kBuckets] = {};
    float gain = 1;
};

// The centroids, and the gain the rule asks for (`frac`: the fraction kept, for dare).
Recon recon_of(const Stats& s, const Quant& q, double ref2, SparseGain rule, double frac) {
    Recon r;
    const double a = static_cast<double>(q.tau) / q.step;
    double inner = 0;  // ⟨Δ̃, Δ⟩ / step²: Σ (a + m + o)(a + m + t)
    for (unsigned k = 0; k < kBuckets; ++k) {
        const Bucket& b = s.b[k];
        if (b.n > 0) r.offsets[k] = static_cast<float>(std::clamp(b.t1 / b.n, 0.0, 1.0));
        const double o = r.offsets[k], p1 = b.n * a + b.m1, p2 = b.n * a * a + 2 * a * b.m1 + b.m2;
        inner += p2 + o * p1 + a * b.t1 + b.mt + o * b.t1;
    }
    inner *= static_cast<double>(q.step) * q.step;
    double g = 1;
    if (rule == SparseGain::PROJECTION && inner > 0) g = ref2 / inner;
    if (rule == SparseGain::DARE && frac > 0) g = 1 / frac;
    if (std::isfinite(static_cast<float>(g))) r.gain = static_cast<float>(g);
    return r;
}

// ‖Δ̂ − Δ‖²: per bucket Σ((g − 1)(a + m) + g·o − t)²·step², plus the dropped entries' Σx².
double err2_of(const Stats& s, const Quant& q, const Recon& r) {
    const double g = r.gain, h = g - 1, a = static_cast<double>(q.tau) / q.step;
    double e = 0;
    for (unsigned k = 0; k < kBuckets; ++k) {
        const Bucket& b = s.b[k];
        const double c = g * r.offsets[k], p1 = b.n * a + b.m1, p2 = b.n * a * a + 2 * a * b.m1 + b.m2;
        const double pt = a * b.t1 + b.mt;
        e += h * h * p2 + b.n * c * c + b.t2 + 2 * h * c * p1 - 2 * h * pt - 2 * c * b.t1;
    }
    return std::max(0.0, e) * q.step * q.step + s.dropped_x2;
}

// A table for a histogram: symbols up to the last one counted (one symbol when none is).
rans::Table table_of(const uint64_t* hist) {
    size_t n = rans::kMaxSymbols;
    while (n > 1 && hist[n - 1] == 0) --n;
    if (n == 1 && hist[0] == 0) {
        const uint64_t one = 1;
        return rans::normalize(&one, 1);
    }
    return rans::normalize(hist, n);
}
uint64_t code_bytes(const uint64_t* hist, const rans::Table& t) {
    return static_cast<uint64_t>(std::ceil(rans::cost_bits(hist, t.freq.size(), t) / 8));
}

// Chunk c's bitmap bytes of `kept(i)` (i row-major over the tensor), to `put(byte)`:
// bit b of byte j is the chunk's element 8j + b; the last byte's unused bits are 0.
template <typename Kept, typename Put>
void bitmap_bytes(uint64_t first, uint64_t n, Kept&& kept, Put&& put) {
    for (uint64_t j = 0; j < n; j += 8) {
        unsigned byte = 0;
        for (uint64_t b = 0; b < 8 && j + b < n; ++b) byte |= static_cast<unsigned>(kept(first + j + b)) << b;
        put(static_cast<uint8_t>(byte));
    }
}

// The fixed fields after the base: keep, rows per chunk, seed, threshold, τ, step,
// gain, K, offsets.
constexpr uint64_t kFixedBytes = 9 + 1 + 4 + 8 + 4 + 4 + 4 + 4 + 1 + 4 * kBuckets;

// Payload bytes of a point: the fixed fields, tables, index, blob and streams.
uint64_t payload_bytes(const Stats& s, const uint64_t* pos, uint64_t chunks) {
    const rans::Table vt = table_of(s.vals);
    uint64_t b = kFixedBytes + rans::table_bytes(vt) + kIndexBytes * chunks + kBlobHeaderBytes +
                 chunks * rans::kStreamOverhead + code_bytes(s.vals, vt) + s.esc_bytes;
    if (pos) {
        const rans::Table pt = table_of(pos);
        b += rans::table_bytes(pt) + chunks * rans::kStreamOverhead + code_bytes(pos, pt);
    }
    return b;
}

// The whole delta as f32, row-major (empty when it holds NaN or infinity).
std::vector<float> read_delta(const TensorInput& in, ThreadPool* pool) {
    const TensorInfo& fi = *in.ft->info;
    const TensorInfo& bi = *in.base->info;
    const uint64_t rows = fi.shape[0], cols = fi.shape[1];
    const DeltaView dv{in.base->data(), bi.dtype, in.ft->data(), fi.dtype, rows, cols};
    std::vector<float> d(rows * cols);
    std::atomic<bool> finite{true};
    auto row = [&](size_t r) {
        thread_local std::vector<float> tmp;
        tmp.resize(cols);
        dv.read_rows(r, 1, d.data() + r * cols, tmp.data());
        if (!kernels().all_finite(d.data() + r * cols, cols)) finite = false;
    };
    if (pool)
        pool->parallel_for(rows, row);
    else
        for (uint64_t r = 0; r < rows; ++r) row(r);
    if (!finite) d.clear();
    return d;
}

// τ for keeping the k largest |x| (k ≥ 1): the k-th largest, at least the smallest
// positive float (so a zero is never kept). `scratch`: n floats.
float magnitude_tau(const std::vector<float>& d, uint64_t k, std::vector<float>& scratch) {
    scratch.resize(d.size());
    for (size_t i = 0; i < d.size(); ++i) scratch[i] = std::fabs(d[i]);
    const uint64_t at = std::min<uint64_t>(k, d.size()) - 1;
    std::nth_element(scratch.begin(), scratch.begin() + static_cast<std::ptrdiff_t>(at), scratch.end(),
                     std::greater<float>());
    const float tau = scratch[at];
    scratch = {};
    return std::max(tau, std::numeric_limits<float>::denorm_min());
}

uint64_t keep_count(double frac, uint64_t n) {
    return std::clamp<uint64_t>(static_cast<uint64_t>(std::llround(frac * static_cast<double>(n))), 1, n);
}

// The step exponent for `bits` bits a kept value: 2^(e/4) ≈ rms(|x| − τ)·2^(2 − bits).
int exp_for_bits(double rms_u, float tau, double bits) {
    const double base = rms_u > 0 ? rms_u : tau > 0 ? tau : 1;
    return exp_of(base * std::exp2(2 - bits));
}

// ---- analyse ---------------------------------------------------------------------

RdCurve sparse_analyse(const TensorInput& in, const CompressOptions& opt) {
    const uint64_t rows = in.ft->info->shape[0], cols = in.ft->info->shape[1], n = rows * cols;
    const uint64_t rpc = rows_per_chunk(rows, cols), chunks = (rows + rpc - 1) / rpc;
    const bool random = opt.sparse_random;
    const uint64_t seed = seed_of(in.ft->info->name);
    std::vector<float> d = read_delta(in, nullptr);
    RdCurve c;
    if (d.empty()) {  // encode() declines; one point that no allocator prefers
        RdPoint p;
        p.bytes = n * 8;
        p.setting = setting_of(kOptLevel, 0);
        c.points.push_back(p);
        return c;
    }
    double ref2 = 0;
    for (float x : d) ref2 += static_cast<double>(x) * x;
    std::vector<float> scratch;

    // One keep level: its τ or threshold, the kept values' RMS above τ, the dropped Σx².
    struct Level {
        Quant q;
        uint32_t thr = 0;
        double frac = 0, rms_u = 0, dropped_x2 = 0;
        uint64_t kept = 0;
    };
    auto kept_at = [&](const Level& l, uint64_t i) {
        return random ? random_kept(seed, l.thr, i) : std::fabs(d[i]) >= l.q.tau;
    };
    auto level_of = [&](double frac) {
        Level l;
        if (random) {
            l.thr = random_threshold(frac);
            l.frac = l.thr / 4294967296.0;
        } else {
            l.q.tau = magnitude_tau(d, keep_count(frac, n), scratch);
        }
        double u2 = 0;
        for (uint64_t i = 0; i < n; ++i) {
            if (kept_at(l, i)) {
                const double u = std::fabs(d[i]) - l.q.tau;
                u2 += u * u, ++l.kept;
            } else {
                l.dropped_x2 += static_cast<double>(d[i]) * d[i];
            }
        }
        if (!random) l.frac = static_cast<double>(l.kept) / static_cast<double>(n);
        l.rms_u = l.kept ? std::sqrt(u2 / static_cast<double>(l.kept)) : 0;
        return l;
    };
    // One point: every kept value's symbol and bucket sums, the bitmap's bytes.
    auto stats_of = [&](const Level& l, const Quant& q, uint64_t* pos) {
        Stats s;
        s.dropped_x2 = l.dropped_x2;
        for (uint64_t i = 0; i < n; ++i)
            if (kept_at(l, i)) s.add(d[i], q);
        if (pos)
            for (uint64_t ch = 0; ch < chunks; ++ch) {
                const uint64_t first = ch * rpc * cols, len = (std::min(rows, (ch + 1) * rpc) - ch * rpc) * cols;
                bitmap_bytes(
                    first, len, [&](uint64_t i) { return kept_at(l, i); }, [&](uint8_t b) { ++pos[b]; });
            }
        return s;
    };
    auto quant = [](Level l, int e) {
        l.q.step = step_of(e);
        l.q.inv = 1.0f / l.q.step;
        return l.q;
    };

    if (!rate_controlled(opt)) {  // the configured point; bytes from its statistics
        const Level l = level_of(opt.sparse_keep_frac);
        const int e = exp_for_bits(l.rms_u, l.q.tau, opt.sparse_bits);
        uint64_t pos[rans::kMaxSymbols] = {};
        const Stats s = stats_of(l, quant(l, e), random ? nullptr : pos);
        RdPoint p;
        p.bytes = payload_bytes(s, random ? nullptr : pos, chunks);
        p.setting = setting_of(kOptLevel, e);
        return RdCurve{{p}};
    }
    std::vector<RdPoint> all;
    for (uint32_t lv = 0; lv < kLevels; ++lv) {
        const Level l = level_of(level_frac(lv));
        if (l.kept == 0) continue;
        uint64_t pos[rans::kMaxSymbols] = {};
        bool pos_done = false;
        int last_e = std::numeric_limits<int>::max();
        for (int b2 = kBitsLo; b2 <= kBitsHi; ++b2) {
            const int e = exp_for_bits(l.rms_u, l.q.tau, 0.5 * b2);
            if (e == last_e) continue;
            last_e = e;
            const Quant q = quant(l, e);
            const Stats s = stats_of(l, q, random || pos_done ? nullptr : pos);
            pos_done = true;
            RdPoint p;
            p.bytes = payload_bytes(s, random ? nullptr : pos, chunks);
            p.err2 = err2_of(s, q, recon_of(s, q, ref2, opt.sparse_gain, l.frac));
            p.setting = setting_of(lv, e);
            all.push_back(p);
        }
    }
    // Increasing bytes, each point less error than every smaller one (the rest never helps).
    std::sort(all.begin(), all.end(), [](const RdPoint& a, const RdPoint& b) {
        return a.bytes != b.bytes ? a.bytes < b.bytes : *a.err2 < *b.err2;
    });
    for (const RdPoint& p : all)
        if (c.points.empty() || (p.bytes > c.points.back().bytes && *p.err2 < *c.points.back().err2))
            c.points.push_back(p);
    return c;
}

// ---- encode --------------------------------------------------------------------------

std::optional<EncodedRecord> sparse_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                           EncodeContext& ec) {
    const TensorInfo& fi = *in.ft->info;
    const uint64_t rows = fi.shape[0], cols = fi.shape[1], n = rows * cols;
    const uint64_t rpc = rows_per_chunk(rows, cols), chunks = (rows + rpc - 1) / rpc;
    const bool random = opt.sparse_random;
    const uint64_t seed = random ? seed_of(fi.name) : 0;
    const uint32_t level = point.setting & 0xff;
    const int e = std::clamp(static_cast<int>((point.setting >> 8) & 0xfff) - kExpBias, -580, 500);
    const double frac = level == kOptLevel ? opt.sparse_keep_frac : level_frac(std::min<uint32_t>(level, kLevels));

    std::vector<float> d = read_delta(in, &ec.pool);
    if (d.empty()) return std::nullopt;  // NaN or infinity in the delta: the next candidate
    Quant q;
    q.step = step_of(e);
    q.inv = 1.0f / q.step;
    uint32_t thr = 0;
    if (random) {
        thr = random_threshold(frac);
    } else {
        std::vector<float> scratch;
        q.tau = magnitude_tau(d, keep_count(frac, n), scratch);
    }
    auto kept = [&](uint64_t i) { return random ? random_kept(seed, thr, i) : std::fabs(d[i]) >= q.tau; };
    auto chunk_range = [&](uint64_t ch, uint64_t& first, uint64_t& len) {
        first = ch * rpc * cols;
        len = (std::min(rows, (ch + 1) * rpc) - ch * rpc) * cols;
    };
    std::atomic<uint64_t> done{0};

    // Pass 1: per chunk, the statistics and the bitmap's byte counts (summed in chunk order).
    std::vector<Stats> part(chunks);
    std::vector<std::array<uint64_t, rans::kMaxSymbols>> pos_part(random ? 0 : chunks);
    std::vector<double> ref(chunks, 0);
    ec.pool.parallel_for(chunks, [&](size_t ch) {
        uint64_t first, len;
        chunk_range(ch, first, len);
        Stats& s = part[ch];
        for (uint64_t i = first; i < first + len; ++i) {
            const double x2 = static_cast<double>(d[i]) * d[i];
            ref[ch] += x2;
            if (kept(i))
                s.add(d[i], q);
            else
                s.dropped_x2 += x2;
        }
        if (!random) {
            pos_part[ch].fill(0);
            bitmap_bytes(first, len, kept, [&](uint8_t b) { ++pos_part[ch][b]; });
        }
        if (ec.progress) ec.progress->within(++done, 2 * chunks);
    });
    Stats all;
    double ref2 = 0;
    uint64_t pos_hist[rans::kMaxSymbols] = {};
    for (uint64_t ch = 0; ch < chunks; ++ch) {
        all.merge(part[ch]), ref2 += ref[ch];
        if (!random)
            for (unsigned b = 0; b < rans::kMaxSymbols; ++b) pos_hist[b] += pos_part[ch][b];
    }
    part = {};
    const double kept_frac = random ? thr / 4294967296.0 : static_cast<double>(all.kept) / static_cast<double>(n);
    const Recon rc = recon_of(all, q, ref2, opt.sparse_gain, kept_frac);
    const rans::Table vt = table_of(all.vals);
    const rans::Table pt = random ? rans::Table{} : table_of(pos_hist);

    // Pass 2: each chunk's streams (positions, values, escapes) and the rebuilt values' error.
    std::vector<std::vector<uint8_t>> streams(chunks);
    std::vector<std::array<uint64_t, 3>> lens(chunks);
    std::vector<double> err(chunks, 0);
    ec.pool.parallel_for(chunks, [&](size_t ch) {
        uint64_t first, len;
        chunk_range(ch, first, len);
        thread_local std::vector<uint8_t> bm, syms, esc;
        bm.clear(), syms.clear(), esc.clear();
        double e2 = 0;
        for (uint64_t i = first; i < first + len; ++i) {
            if (!kept(i)) {
                e2 += static_cast<double>(d[i]) * d[i];
                continue;
            }
            float t;
            const int64_t m = magnitude(std::fabs(d[i]), q, t);
            const uint64_t z = 2 * static_cast<uint64_t>(m) + (d[i] < 0);
            if (z < rans::kEscape) {
                syms.push_back(static_cast<uint8_t>(z));
            } else {
                syms.push_back(rans::kEscape);
                rans::put_varint(esc, z - rans::kEscape);
            }
            const float v = rebuild(m, rc.offsets, kBuckets, q.tau, q.step, rc.gain);
            const double er = static_cast<double>(d[i]) - (d[i] < 0 ? -v : v);
            e2 += er * er;
        }
        err[ch] = e2;
        std::vector<uint8_t>& out = streams[ch];
        lens[ch][0] = 0;
        if (!random) {
            bitmap_bytes(first, len, kept, [&](uint8_t b) { bm.push_back(b); });
            lens[ch][0] = rans::encode(pt, bm.data(), bm.size(), out);
        }
        lens[ch][1] = rans::encode(vt, syms.data(), syms.size(), out);
        lens[ch][2] = esc.size();
        out.insert(out.end(), esc.begin(), esc.end());
        if (ec.progress) ec.progress->within(++done, 2 * chunks);
    });
    d = {};
    EncodedRecord rec;
    for (uint64_t ch = 0; ch < chunks; ++ch) rec.err2 += err[ch];
    rec.ref2 = ref2;
    rec.unchanged = ref2 == 0;
    uint64_t total = 0;
    const uint8_t* data = join_chunks(ec.scratch, streams, total);
    const TensorRef* base = in.base;
    rec.write = [base, random, rpc, seed, thr, q, rc, vt, pt, lens = std::move(lens), data, total](ByteWriter& w) {
        write_float_base(w, *base);
        w.u8(random ? RANDOM : MAGNITUDE);
        w.u32(static_cast<uint32_t>(rpc));
        w.u64(seed);
        w.u32(thr);
        w.f32(q.tau);
        w.f32(q.step);
        w.f32(rc.gain);
        w.u8(kBuckets);
        for (float o : rc.offsets) w.f32(o);
        if (!random) rans::write_table(w, pt);
        rans::write_table(w, vt);
        for (const auto& l : lens)
            for (uint64_t v : l) w.u64(v);
        w.blob(data, total, false);  // rANS output: zstd would not shrink it
    };
    return rec;
}

// ---- decode --------------------------------------------------------------------------

struct SparseBody final : RecordBody {
    FloatBase base;
    uint64_t rows = 0, cols = 0, rpc = 0, chunks = 0, seed = 0;
    bool random = false;
    uint32_t thr = 0;
    float tau = 0, step = 0, gain = 0;
    unsigned k = 0;
    float offsets[kMaxBuckets] = {};
    rans::Table pos_table, val_table;
    std::vector<uint64_t> lens;  // per chunk: positions, values, escape bytes
    std::vector<uint64_t> at;    // per chunk: its offset in the blob
    BlobRef stream;

    float value(uint64_t z) const {
        const float v = rebuild(static_cast<int64_t>(z / 2), offsets, k, tau, step, gain);
        return z & 1 ? -v : v;
    }

    [[noreturn]] void corrupt(const std::string& ctx, uint64_t c, const char* why) const {
        throw Error(ctx + ": corrupt sparse record (" + why + " in chunk " + std::to_string(c) + ")");
    }

    // Decodes chunk c into delta (its rows × cols, row-major): zeros but the kept entries;
    // with delta null, only checks it. Either way kSlice elements at a time, so that what
    // it allocates does not depend on the shape the record claims.
    void chunk(const rans::Decoder* pdec, const rans::Decoder& vdec, const float* lut, uint64_t c,
               const std::string& ctx, float* delta) const {
        constexpr uint64_t kSlice = 1 << 14;  // a multiple of 8: whole bitmap bytes
        thread_local std::vector<uint8_t> bm, syms;
        thread_local std::vector<float> slice;
        const uint64_t first = c * rpc * cols, len = (std::min(rows, (c + 1) * rpc) - c * rpc) * cols;
        const uint8_t* p = stream.src + at[c];
        std::optional<rans::Decoder::Stream> ps;
        if (!random) ps.emplace(*pdec, p, lens[3 * c], ctx);
        p += lens[3 * c];
        rans::Decoder::Stream vs(vdec, p, lens[3 * c + 1], ctx);
        const uint8_t* e = p + lens[3 * c + 1];
        const uint8_t* e_end = e + lens[3 * c + 2];
        if (!delta) slice.resize(std::min(kSlice, len));
        for (uint64_t off = 0; off < len; off += kSlice) {
            const uint64_t n = std::min(kSlice, len - off);
            uint64_t kept = 0;
            if (!random) {
                bm.resize((n + 7) / 8);
                ps->get(bm.data(), bm.size());
                if (n % 8 && bm.back() >> (n % 8)) corrupt(ctx, c, "bitmap padding bits set");
                for (uint8_t b : bm) kept += static_cast<uint64_t>(std::popcount(b));
            } else {
                for (uint64_t i = 0; i < n; ++i) kept += random_kept(seed, thr, first + off + i);
            }
            syms.resize(kept);
            vs.get(syms.data(), kept);
            float* out = delta ? delta + off : slice.data();
            std::fill(out, out + n, 0.0f);
            uint64_t s = 0;
            for (uint64_t i = 0; i < n; ++i) {
                if (random ? !random_kept(seed, thr, first + off + i) : !(bm[i / 8] >> (i % 8) & 1)) continue;
                const uint8_t z = syms[s++];
                if (z < rans::kEscape) {
                    out[i] = lut[z];
                    continue;
                }
                uint64_t v = 0;
                if (!rans::get_varint(e, e_end, 5, v) || v > 2 * static_cast<uint64_t>(kMaxQ) + 1 - rans::kEscape)
                    corrupt(ctx, c, "bad escape");
                out[i] = value(v + rans::kEscape);
            }
        }
        if (ps) ps->finish();
        vs.finish();
        if (e != e_end) corrupt(ctx, c, "escape bytes left over");
    }

    void lut_of(float* lut) const {
        for (unsigned z = 0; z < rans::kEscape; ++z) lut[z] = value(z);
    }

    void decode(const DecodeContext& dc, BandSink& sink) const override {
        // The base first: its tensor really exists, so it bounds the sizes the record declares.
        const TensorRef& b = dc.base_tensor(base.dtype, dc.spec.shape, base.fingerprint);
        const std::optional<rans::Decoder> pdec = random ? std::nullopt : std::optional<rans::Decoder>(pos_table);
        const rans::Decoder vdec(val_table);
        float lut[rans::kEscape];
        lut_of(lut);
        rebuild_chunked(dc, sink, base.dtype, b, rows, cols, rpc, [&](uint64_t c, auto&& row) {
            thread_local std::vector<float> delta;
            delta.resize(rpc * cols);
            chunk(pdec ? &*pdec : nullptr, vdec, lut, c, dc.ctx, delta.data());
            for (uint64_t r = c * rpc; r < std::min(rows, (c + 1) * rpc); ++r)
                row(r, delta.data() + (r - c * rpc) * cols);
        });
        b.release();
    }

    std::optional<uint64_t> base_fingerprint() const override { return base.fingerprint; }

    void describe(const std::string& ctx, DcxTensor&) const override {
        const std::optional<rans::Decoder> pdec = random ? std::nullopt : std::optional<rans::Decoder>(pos_table);
        const rans::Decoder vdec(val_table);
        float lut[rans::kEscape];
        lut_of(lut);
        for (uint64_t c = 0; c < chunks; ++c) chunk(pdec ? &*pdec : nullptr, vdec, lut, c, ctx, nullptr);
    }
};

std::unique_ptr<const RecordBody> sparse_parse(ByteReader& r, const TensorSpec& spec) {
    auto b = std::make_unique<SparseBody>();
    b->base = read_float_base(r, spec);
    b->rows = spec.shape[0];
    b->cols = spec.shape[1];
    if (b->rows == 0 || b->cols == 0) r.fail("sparse record of an empty tensor");
    const uint8_t keep = r.u8();
    if (keep > RANDOM) r.fail("sparse keep rule " + std::to_string(keep) + " is not 0 (magnitude) or 1 (random)");
    b->random = keep == RANDOM;
    b->rpc = r.u32();
    if (b->rpc < 1 || b->rpc > b->rows) r.fail("sparse rows per chunk is not in 1..rows");
    if (b->rpc * b->cols > kChunkSymbols && b->rpc > 1) r.fail("sparse chunk of more than 2^18 elements");
    b->chunks = (b->rows + b->rpc - 1) / b->rpc;
    b->seed = r.u64();
    b->thr = r.u32();
    if (!b->random && (b->seed != 0 || b->thr != 0)) r.fail("sparse magnitude record with a seed or threshold");
    if (b->random && b->thr == 0) r.fail("sparse random record keeps nothing (threshold 0)");
    b->tau = r.f32();
    if (!std::isfinite(b->tau) || b->tau < 0 || (b->random && b->tau != 0))
        r.fail("sparse threshold tau is not a finite number >= 0 (0 for random keep)");
    const ScalarRecon sr = read_scalar_recon(r, "sparse", 0);
    b->step = sr.step, b->gain = sr.gain, b->k = sr.k;
    std::copy(sr.offsets, sr.offsets + sr.k, b->offsets);
    if (!b->random) b->pos_table = rans::read_table(r);
    b->val_table = rans::read_table(r);
    // The chunk index lies in the record: its size bounds the allocation.
    ByteReader idx(r.bytes(kIndexBytes * b->chunks), kIndexBytes * b->chunks, "sparse chunk index");
    b->lens.resize(3 * b->chunks);
    b->at.resize(b->chunks);
    uint64_t total = 0;
    for (uint64_t i = 0; i < 3 * b->chunks; ++i) {
        const uint64_t v = idx.u64();
        if (v > (uint64_t{1} << 40)) r.fail("sparse chunk length out of range");
        if (b->random && i % 3 == 0 && v != 0) r.fail("sparse random record with a position stream");
        if (i % 3 == 0) b->at[i / 3] = total;
        b->lens[i] = v;
        total += v;
        if (total > (uint64_t{1} << 62)) r.fail("sparse chunk lengths out of range");
    }
    b->stream = r.blob_ref();
    if (b->stream.codec != 0) r.fail("sparse stream blob is not stored");
    if (b->stream.raw != total) r.fail("sparse chunk lengths do not add up to the stream blob");
    return b;
}

}  // namespace

extern const MethodTraits kSparseMethod{
    MethodId{6},
    "sparse",
    "coded",
    MethodRole::LOSSY,
    "keep the largest (or a seeded random subset of) delta entries, quantized + rANS, positions as a coded bitmap",
    is_2d_float_delta,
    sparse_analyse,
    sparse_encode,
    sparse_parse,
    nullptr,
    nullptr,
    nullptr,
    one_row};  // per-tensor threshold and step: a row sample estimates them

}  // namespace deltacodec
