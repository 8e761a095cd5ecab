// deltacodec — method 7, svdmix: the truncated SVD of the 2-D delta with a width
// per singular direction (mixed precision, after Delta-CoMe, data-free): larger
// singular values get more bits, small ones none. The record is lowrank's
// (FORMAT.md "LOWRANK", method byte 7): one width and scale per stored column,
// so the decoder is lowrank's (src/methods/lowrank.hpp), a tiled matrix product.
//
// The widths are chosen by rate–distortion, not by a table. For each singular
// pair j (of the sketch: lowrank.hpp) and width b = 1..8 the factors' codes are
// measured: direction j costs R_j(b) = 5 + ⌈m·b/8⌉ + ⌈n·b/8⌉ bytes (its table
// entry and its codes) and adds D_j(b) = s_j²·(‖e_u,j‖²·‖v̂_j‖² + ‖e_v,j‖²) to the
// error (lowrank's estimate: the quantization error of the pair); left out
// (b = 0) it costs nothing and adds s_j². The total error is
// ‖Δ‖² − Σ_j s_j² + Σ_j D_j(b_j). The allocation path: each direction's points
// (R, D) reduced to their lower convex hull, then the hulls' steps taken in
// order of decreasing slope −ΔD/ΔR (a greedy merge: each direction's steps stay
// in order), which gives the Lagrangian optimum at every slope. Step t of the path
// is a point's setting; encode() recomputes the (deterministic) path.
//
// Rate control: the sketch of lowrank's ladder (exact up to min(m, n) = 512, else
// 266 columns); the ladder is the path sampled every ×1.05 in raw bytes, each
// point's bytes exact (its blobs compressed as encode writes them), err2 the
// estimate above. Without a target, svdmix spends lowrank's budget for `--rank N
// --rank-bits B` (the raw bytes of N columns at B bits) over up to 2N directions.
#include <algorithm>
#include <cmath>
#include <queue>

#include "codec/symbol_coder.hpp"
#include "deltacodec/error.hpp"
#include "methods/lowrank.hpp"
#include "methods/method.hpp"

namespace deltacodec {
namespace {

using namespace lowrank;

constexpr uint32_t kBudget = 0x80000000u;  // setting: the budget of --rank / --rank-bits
constexpr double kLadderRatio = 1.05;      // ladder: raw bytes grow by this much between points

uint64_t sketch_size(uint64_t k, const CompressOptions& opt) {
    if (rate_controlled(opt)) return ladder_sketch(k);
    return std::min<uint64_t>(k, 2 * std::min<uint64_t>(opt.rank, k) + kOversample);
}

uint64_t column_bytes(uint64_t m, uint64_t n, int b) {
    return b == 0 ? 0 : 5 + bitpack_coder().fixed_bytes(m, b) + bitpack_coder().fixed_bytes(n, b);
}

// lowrank's raw bytes at --rank / --rank-bits: svdmix's budget without a target.
uint64_t budget_bytes(uint64_t m, uint64_t n, uint64_t k, const CompressOptions& opt) {
    const int b = static_cast<int>(std::clamp(opt.rank_bits, 1u, static_cast<unsigned>(kMaxBits)));
    return kFixedBytes + std::min<uint64_t>(opt.rank, k) * column_bytes(m, n, b);
}

// The allocation path: step t sets direction col[t] to `bits[t]`; raw[t] and err[t]
// are the raw bytes and the estimated err2 after steps 0..t−1 (raw[0]: no column).
struct Path {
    std::vector<uint32_t> col;
    std::vector<uint8_t> bits;
    std::vector<uint64_t> raw;
    std::vector<double> err;
    uint64_t directions = 0;

    // The widths after the first t steps; at least one column (a record has rank ≥ 1).
    std::vector<uint8_t> widths(uint64_t t) const {
        std::vector<uint8_t> w(std::max<uint64_t>(directions, 1), 0);
        for (uint64_t i = 0; i < t; ++i) w[col[i]] = bits[i];
        if (std::all_of(w.begin(), w.end(), [](uint8_t b) { return b == 0; })) w[0] = 1;
        return w;
    }
    uint64_t steps() const { return col.size(); }
};

Path rd_path(const Svd& f, uint64_t rmax, double norm2) {
    const uint64_t m = f.m, n = f.n;
    Path p;
    p.directions = rmax;
    // Per direction: the lower convex hull of (R(b), D(b)), b = 0..8, as (bits, R, D).
    struct Vertex {
        uint8_t bits;
        double r, d;
    };
    std::vector<std::vector<Vertex>> hull(rmax);
    std::vector<uint8_t> q(std::max(m, n));
    double err = norm2;  // every direction left out: ‖Δ‖² − Σ s_j² + Σ D_j(0)
    for (uint64_t j = 0; j < rmax; ++j) {
        const double s2 = static_cast<double>(f.s[j]) * f.s[j];
        std::vector<Vertex> pts{{0, 0, s2}};
        for (int b = 1; b <= kMaxBits; ++b) {
            double eu, ru, ev, rv;
            quantize(f.U.data() + j * m, m, b, q.data(), eu, ru);
            quantize(f.V.data() + j * n, n, b, q.data(), ev, rv);
            const Vertex v{static_cast<uint8_t>(b), static_cast<double>(column_bytes(m, n, b)), s2 * (eu * rv + ev)};
            if (v.r == pts.back().r) {  // as many bytes (a 1-long side): keep the better
                if (v.d < pts.back().d) pts.back() = v;
                continue;
            }
            pts.push_back(v);
        }
        std::vector<Vertex>& h = hull[j];
        for (const Vertex& v : pts) {
            if (!h.empty() && v.d >= h.back().d) continue;  // costs more for no less error
            // Drop the last vertex while it lies on or above the chord to v.
            while (h.size() >= 2) {
                const Vertex &a = h[h.size() - 2], &b = h.back();
                if ((b.d - a.d) * (v.r - a.r) < (v.d - a.d) * (b.r - a.r)) break;
                h.pop_back();
            }
            h.push_back(v);
        }
    }
    // The greedy merge: the direction whose next hull step buys the most error per byte.
    using Item = std::pair<double, uint64_t>;  // slope, −direction (ties: the lower direction first)
    auto cmp = [](const Item& x, const Item& y) {
        return x.first != y.first ? x.first < y.first : x.second < y.second;
    };
    std::priority_queue<Item, std::vector<Item>, decltype(cmp)> heap(cmp);
    std::vector<size_t> at(rmax, 0);
    auto push = [&](uint64_t j) {
        const std::vector<Vertex>& h = hull[j];
        if (at[j] + 1 >= h.size()) return;
        const Vertex &a = h[at[j]], &b = h[at[j] + 1];
        heap.push({(a.d - b.d) / (b.r - a.r), ~j});
    };
    for (uint64_t j = 0; j < rmax; ++j) push(j);
    p.raw.push_back(kFixedBytes);
    p.err.push_back(err);
    while (!heap.empty()) {
        const uint64_t j = ~heap.top().second;
        heap.pop();
        const Vertex &a = hull[j][at[j]], &b = hull[j][at[j] + 1];
        ++at[j];
        p.col.push_back(static_cast<uint32_t>(j));
        p.bits.push_back(b.bits);
        p.raw.push_back(p.raw.back() + static_cast<uint64_t>(b.r - a.r));
        err += b.d - a.d;
        p.err.push_back(std::max(0.0, err));
        push(j);
    }
    return p;
}

// The SVD and its path, as analyse and encode compute them (the same numbers).
struct Analysis {
    Svd f;
    Path path;
};
std::optional<Analysis> analysis(const TensorInput& in, const CompressOptions& opt, ThreadPool* pool,
                                 ProgressMeter* progress, double& norm2, std::vector<float>& a) {
    const uint64_t k = min_dim(in), l = sketch_size(k, opt);
    std::optional<Svd> f = delta_svd(in, l, pool, progress, a, norm2);
    if (!f) return std::nullopt;
    Analysis r;
    r.f = std::move(*f);
    r.path = rd_path(r.f, max_rank(k, l), norm2);
    return r;
}

RdCurve svdmix_analyse(const TensorInput& in, const CompressOptions& opt) {
    const uint64_t m = in.ft->info->shape[0], n = in.ft->info->shape[1], k = min_dim(in);
    RdPoint one;
    one.bytes = budget_bytes(m, n, k, opt);
    one.setting = kBudget;
    if (!rate_controlled(opt)) return RdCurve{{one}};
    double norm2 = 0;
    std::vector<float> a;
    std::optional<Analysis> an = analysis(in, opt, nullptr, nullptr, norm2, a);
    if (!an) return RdCurve{{one}};  // encode will decline it
    a = {};
    const Path& path = an->path;
    // Steps every ×kLadderRatio in raw bytes, and the last, up to the dense delta in f16.
    std::vector<RdPoint> pts;
    double next = 0;
    for (uint64_t t = std::min<uint64_t>(1, path.steps()); t <= path.steps(); ++t) {
        if (path.raw[t] > 2 * m * n) break;
        if (static_cast<double>(path.raw[t]) < next && t != path.steps()) continue;
        next = static_cast<double>(path.raw[t]) * kLadderRatio;
        const Quantized z = quantize_factors(an->f, path.widths(t));
        RdPoint p;
        p.bytes = record_bytes(z, m, n, opt.entropy);
        p.err2 = path.err[t];
        p.setting = static_cast<uint32_t>(t);
        pts.push_back(p);
    }
    RdCurve c = ladder_of(std::move(pts));
    if (c.points.empty()) c.points.push_back(one);
    return c;
}

std::optional<EncodedRecord> svdmix_encode(const TensorInput& in, const CompressOptions& opt, const RdPoint& point,
                                           EncodeContext& ec) {
    const uint64_t m = in.ft->info->shape[0], n = in.ft->info->shape[1], k = min_dim(in);
    double norm2 = 0;
    std::vector<float> a;
    std::optional<Analysis> an = analysis(in, opt, &ec.pool, ec.progress, norm2, a);
    if (!an) return std::nullopt;  // NaN or infinity: the next candidate
    if (ec.progress) ec.progress->within(2, 4);
    const Path& path = an->path;
    uint64_t t = point.setting;
    if (point.setting == kBudget) {
        const uint64_t budget = budget_bytes(m, n, k, opt);
        t = 0;
        while (t < path.steps() && path.raw[t + 1] <= budget) ++t;
    } else if (t > path.steps()) {
        throw Error("internal error: svdmix setting " + std::to_string(point.setting) + " for tensor '" +
                    in.ft->info->name + "'");
    }
    auto z = std::make_shared<const Quantized>(quantize_factors(an->f, path.widths(t)));
    return factor_record(in, a, norm2, std::move(z), opt.entropy, ec);
}

std::unique_ptr<const RecordBody> svdmix_parse(ByteReader& r, const TensorSpec& spec) {
    return parse_record(r, spec, "svdmix");
}

}  // namespace

extern const MethodTraits kSvdMixMethod{MethodId{7},
                                        "svdmix",
                                        "coded",
                                        MethodRole::LOSSY,
                                        "truncated SVD, 1..8 bits per singular direction chosen by rate-distortion",
                                        lowrank::applicable,
                                        svdmix_analyse,
                                        svdmix_encode,
                                        svdmix_parse};

}  // namespace deltacodec
