// deltacodec — multi-level 2-D wavelets by lifting, per patch: Daubechies db2
// (4 taps) and db4 (8 taps), orthonormal, with periodic extension inside the
// patch; CDF 9/7 (JPEG 2000's irreversible filter pair), biorthogonal, with
// whole-sample symmetric extension. The pyramid recurses on the LL quadrant
// (Mallat): level l transforms the top-left (p/2^(l-1))² block, rows then columns,
// each 1-D pass writing its low half before its high half, so every level's
// bands lie as Haar's do: [LL LH; HL HH].
//
// Why these extensions: periodic extension keeps an orthonormal filter bank
// orthonormal on any even length (db2/db4 stay Parseval-exact, gains 1, analysis
// bound 1), whereas symmetric extension would break orthogonality at the
// edges. CDF 9/7's filters are symmetric, so symmetric extension is exact for
// them too (perfect reconstruction with no wrap-around jump from one patch edge
// to the other, which periodic extension puts into the finest high band); its
// basis is not orthogonal either way, so its synthesis gains are computed from
// the basis functions (pyramid_gains) and the encoder measures its error by the
// inverse transform.
//
// The lifting steps of db2/db4 come from factoring the filters' polyphase
// matrix (Euclid on Laurent polynomials, Daubechies & Sweldens 1998), chosen so
// that the output equals direct periodic convolution with the filter taps
// (low_i = Σ_k h_k x_{2i+k}, high_i = Σ_k g_k x_{2i+k}, g_k = (−1)^k h_{N−1−k},
// indices mod n): wavelet2_reference() builds exactly that and the tests compare.
#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

#include "codec/transform.hpp"
#include "deltacodec/error.hpp"

namespace deltacodec {
namespace {

// One lifting step: target_i += Σ_t c[t]·other_{i+off+t}, t = 0..n-1. A predict
// step (update = false) changes the odd samples d from the even ones s; an
// update step changes s from d.
struct LiftStep {
    bool update;
    int off;
    int n;
    double c[3];
};

struct LiftScheme {
    std::vector<LiftStep> steps;
    double k_low, k_high;   // final scaling of s and d
    int rot_low, rot_high;  // low_i = k_low·s_{i+rot_low}, high_i = k_high·d_{i+rot_high} (mod n/2)
    bool symmetric;         // whole-sample symmetric extension (else periodic)
};

// db2 = D4: the classic factorization (√3 and its relatives).
const LiftScheme kDb2{{{false, 0, 1, {-1.7320508075688779}},
                       {true, 0, 2, {0.43301270189221924, -0.06698729810778066}},
                       {false, -1, 1, {1.0}}},
                      1.9318516525781366,   // (√3 + 1)/√2
                      -0.5176380902050415,  // −(√3 − 1)/√2
                      0,
                      1,
                      false};

// db4 = D8 (PyWavelets' db4 taps), factored as above; matches direct convolution
// to 1e-10 (the taps' own rounding, amplified by the factorization).
const LiftScheme kDb4{{{false, 0, 1, {-3.102931485860559}},
                       {true, 0, 2, {0.3534491876347348, 0.11602641034655346}},
                       {false, 0, 2, {-1.1327374041134999, 0.18109027713531917}},
                       {true, 0, 2, {-0.06610055271251727, -0.22141421016899926}},
                       {false, -3, 3, {0.23869459774429466, -1.3483235208783424, 4.516421955197582}}},
                      2.277938111490872,
                      -0.43899348933029114,
                      0,
                      3,
                      false};

// CDF 9/7: JPEG 2000's lifting constants (ITU T.800 Annex F); scaled so that
// the low band has DC gain √2 and the high band Nyquist gain √2, as an
// orthonormal bank would (JPEG 2000 itself uses 1 and 2).
const LiftScheme kCdf97{{{false, 0, 2, {-1.586134342059924, -1.586134342059924}},
                         {true, -1, 2, {-0.052980118572961, -0.052980118572961}},
                         {false, 0, 2, {0.882911075530934, 0.882911075530934}},
                         {true, -1, 2, {0.443506852043971, 0.443506852043971}}},
                        1.149604398860241,
                        1.0 / 1.149604398860241,
                        0,
                        0,
                        true};

const LiftScheme& scheme(TransformId id) {
    switch (id) {
        case TransformId::DB2:
            return kDb2;
        case TransformId::DB4:
            return kDb4;
        case TransformId::CDF97:
            return kCdf97;
        default:
            break;
    }
    throw Error("internal: transform " + std::to_string(static_cast<int>(id)) + " is not a lifting wavelet");
}

int wrap(int j, int m) { return ((j % m) + m) % m; }

// Index of sample j of the even (odd = false) or odd stream of a length-n signal
// (m = n/2 per stream) after extension past its ends.
int extended(const LiftScheme& s, int j, int m, bool odd) {
    if (!s.symmetric) return wrap(j, m);
    const int n = 2 * m, period = 2 * n - 2;  // whole-sample symmetric: x_{-k} = x_k, x_{n-1+k} = x_{n-1-k}
    int x = wrap(2 * j + (odd ? 1 : 0), period);
    if (x > n - 1) x = period - x;
    return x / 2;
}

// One lifting pass over streams s (even samples) and d (odd), m each; sign +1
// analysis, −1 synthesis (steps then run in reverse order).
void run_step(const LiftScheme& sc, const LiftStep& st, double sign, double* s, double* d, int m) {
    double* target = st.update ? s : d;
    const double* other = st.update ? d : s;
    const bool other_odd = st.update;
    // Interior: every tap inside [0, m), no extension needed.
    const int lo = std::clamp(-st.off, 0, m), hi = std::clamp(m - st.off - st.n + 1, lo, m);
    auto edge = [&](int i) {
        double acc = 0;
        for (int t = 0; t < st.n; ++t) acc += st.c[t] * other[extended(sc, i + st.off + t, m, other_odd)];
        target[i] += sign * acc;
    };
    for (int i = 0; i < lo; ++i) edge(i);
    for (int i = lo; i < hi; ++i) {
        const double* o = other + i + st.off;
        double acc = st.c[0] * o[0];
        for (int t = 1; t < st.n; ++t) acc += st.c[t] * o[t];
        target[i] += sign * acc;
    }
    for (int i = hi; i < m; ++i) edge(i);
}

// 1-D analysis of x[0..n) (n even, ≥ 2) in place: low half, then high half. tmp: n doubles.
void forward_1d(const LiftScheme& sc, double* x, int n, double* tmp) {
    const int m = n / 2;
    double* s = tmp;
    double* d = tmp + m;
    for (int i = 0; i < m; ++i) s[i] = x[2 * i], d[i] = x[2 * i + 1];
    for (const LiftStep& st : sc.steps) run_step(sc, st, 1.0, s, d, m);
    for (int i = 0; i < m; ++i) {
        x[i] = sc.k_low * s[wrap(i + sc.rot_low, m)];
        x[m + i] = sc.k_high * d[wrap(i + sc.rot_high, m)];
    }
}

void inverse_1d(const LiftScheme& sc, double* x, int n, double* tmp) {
    const int m = n / 2;
    double* s = tmp;
    double* d = tmp + m;
    for (int i = 0; i < m; ++i) {
        s[wrap(i + sc.rot_low, m)] = x[i] / sc.k_low;
        d[wrap(i + sc.rot_high, m)] = x[m + i] / sc.k_high;
    }
    for (auto it = sc.steps.rbegin(); it != sc.steps.rend(); ++it) run_step(sc, *it, -1.0, s, d, m);
    for (int i = 0; i < m; ++i) x[2 * i] = s[i], x[2 * i + 1] = d[i];
}

// 1-D `levels`-level pyramid of x[0..p) in place (the low half recursed on).
void pyramid_1d(const LiftScheme& sc, double* x, int p, int levels, bool inverse, double* tmp) {
    if (!inverse)
        for (int l = 0; l < levels; ++l) forward_1d(sc, x, p >> l, tmp);
    else
        for (int l = levels - 1; l >= 0; --l) inverse_1d(sc, x, p >> l, tmp);
}

class LiftingTransform final : public Transform {
public:
    LiftingTransform(const LiftScheme& sc, int p, int levels) : Transform(p), sc_(sc), levels_(levels) {}
    void forward(const float* in, float* out, float*) const override { run(in, out, false); }
    void inverse(const float* in, float* out, float*) const override { run(in, out, true); }

private:
    // In double (p ≤ 256: a few hundred KiB per thread at most).
    void run(const float* in, float* out, bool inverse) const {
        const int p = p_;
        thread_local std::vector<double> buf, line, tmp;
        buf.resize(static_cast<size_t>(p) * p);
        line.resize(p);
        tmp.resize(p);
        for (size_t i = 0; i < buf.size(); ++i) buf[i] = in[i];
        for (int k = 0; k < levels_; ++k) {
            const int l = inverse ? levels_ - 1 - k : k, n = p >> l;
            auto rows = [&] {
                for (int r = 0; r < n; ++r)
                    (inverse ? inverse_1d : forward_1d)(sc_, buf.data() + static_cast<size_t>(r) * p, n, tmp.data());
            };
            auto cols = [&] {
                for (int c = 0; c < n; ++c) {
                    for (int r = 0; r < n; ++r) line[r] = buf[static_cast<size_t>(r) * p + c];
                    (inverse ? inverse_1d : forward_1d)(sc_, line.data(), n, tmp.data());
                    for (int r = 0; r < n; ++r) buf[static_cast<size_t>(r) * p + c] = line[r];
                }
            };
            if (inverse) {
                cols();
                rows();
            } else {
                rows();
                cols();
            }
        }
        for (size_t i = 0; i < buf.size(); ++i) out[i] = static_cast<float>(buf[i]);
    }
    const LiftScheme& sc_;
    int levels_;
};

// ---- the plain reference: filter taps, direct convolution ---------------------

const std::vector<double> kDb2Taps = {0.48296291314469025, 0.836516303737469, 0.22414386804185735,
                                      -0.12940952255092145};
const std::vector<double> kDb4Taps = {0.23037781330885523,  0.7148465705525415,   0.6308807679295904,
                                      -0.02798376941698385, -0.18703481171888114, 0.030841381835986965,
                                      0.032883011666982945, -0.010597401784997278};
// CDF 9/7 analysis taps as ITU T.800 Table F.4 lists them (centre first), low
// times √2 and high divided by √2 (the normalization above).
const std::vector<double> kCdf97Low = {0.6029490182363579, 0.2668641184428723, -0.07822326652898785,
                                       -0.01686411844287495, 0.02674875741080976};
const std::vector<double> kCdf97High = {1.115087052456994, -0.5912717631142470, -0.05754352622849957,
                                        0.09127176311424948};

// The 1-D analysis matrix (n×n, row-major; rows 0..n/2-1 low, the rest high).
std::vector<double> analysis_matrix(TransformId id, int n) {
    std::vector<double> m(static_cast<size_t>(n) * n, 0.0);
    const int h = n / 2;
    if (id == TransformId::CDF97) {
        const int period = 2 * n - 2;
        auto ext = [&](int x) {  // whole-sample symmetric extension
            if (n == 1) return 0;
            x = wrap(x, period);
            return x > n - 1 ? period - x : x;
        };
        const double r2 = std::sqrt(2.0);
        for (int i = 0; i < h; ++i) {
            for (int k = -4; k <= 4; ++k) m[static_cast<size_t>(i) * n + ext(2 * i + k)] += r2 * kCdf97Low[std::abs(k)];
            for (int k = -3; k <= 3; ++k)
                m[static_cast<size_t>(h + i) * n + ext(2 * i + 1 + k)] += kCdf97High[std::abs(k)] / r2;
        }
        return m;
    }
    const std::vector<double>& hk = id == TransformId::DB2 ? kDb2Taps : kDb4Taps;
    const int nt = static_cast<int>(hk.size());
    for (int i = 0; i < h; ++i)
        for (int k = 0; k < nt; ++k) {
            const double g = ((k % 2) ? -1.0 : 1.0) * hk[nt - 1 - k];
            m[static_cast<size_t>(i) * n + wrap(2 * i + k, n)] += hk[k];
            m[static_cast<size_t>(h + i) * n + wrap(2 * i + k, n)] += g;
        }
    return m;
}

// M⁻¹ by Gauss–Jordan with partial pivoting.
std::vector<double> invert(std::vector<double> a, int n) {
    std::vector<double> inv(static_cast<size_t>(n) * n, 0.0);
    for (int i = 0; i < n; ++i) inv[static_cast<size_t>(i) * n + i] = 1.0;
    for (int c = 0; c < n; ++c) {
        int piv = c;
        for (int r = c + 1; r < n; ++r)
            if (std::fabs(a[static_cast<size_t>(r) * n + c]) > std::fabs(a[static_cast<size_t>(piv) * n + c])) piv = r;
        for (int j = 0; j < n; ++j) {
            std::swap(a[static_cast<size_t>(c) * n + j], a[static_cast<size_t>(piv) * n + j]);
            std::swap(inv[static_cast<size_t>(c) * n + j], inv[static_cast<size_t>(piv) * n + j]);
        }
        const double d = a[static_cast<size_t>(c) * n + c];
        for (int j = 0; j < n; ++j) a[static_cast<size_t>(c) * n + j] /= d, inv[static_cast<size_t>(c) * n + j] /= d;
        for (int r = 0; r < n; ++r) {
            if (r == c) continue;
            const double f = a[static_cast<size_t>(r) * n + c];
            if (f == 0) continue;
            for (int j = 0; j < n; ++j) {
                a[static_cast<size_t>(r) * n + j] -= f * a[static_cast<size_t>(c) * n + j];
                inv[static_cast<size_t>(r) * n + j] -= f * inv[static_cast<size_t>(c) * n + j];
            }
        }
    }
    return inv;
}

// Norms of the 1-D `levels`-level pyramid's synthesis (analysis = false: the
// columns of the inverse) or analysis (true: the rows of the forward) functions.
std::vector<double> norms_1d(const LiftScheme& sc, int p, int levels, bool analysis) {
    std::vector<double> out(p, 0.0), x(p), tmp(p);
    for (int j = 0; j < p; ++j) {
        std::fill(x.begin(), x.end(), 0.0);
        x[j] = 1.0;
        pyramid_1d(sc, x.data(), p, levels, !analysis, tmp.data());
        if (analysis) {
            for (int u = 0; u < p; ++u) out[u] += x[u] * x[u];  // forward(e_j)[u] = row u's entry j
        } else {
            double s = 0;
            for (double v : x) s += v * v;
            out[j] = s;
        }
    }
    for (double& v : out) v = std::sqrt(v);
    return out;
}

// norms_1d, computed once per (wavelet, p, levels, kind): band layouts ask for
// the gains whenever they count kept coefficients.
const std::vector<double>& cached_norms_1d(TransformId id, int p, int levels, bool analysis) {
    static std::mutex mu;
    static std::map<std::tuple<int, int, int, bool>, std::vector<double>> cache;
    const std::lock_guard<std::mutex> lock(mu);
    const auto key = std::make_tuple(static_cast<int>(id), p, levels, analysis);
    auto it = cache.find(key);
    if (it == cache.end()) it = cache.emplace(key, norms_1d(scheme(id), p, levels, analysis)).first;
    return it->second;  // std::map: references stay valid as entries are added
}

// Per position of the p×p pyramid: the product of the 1-D norms at the level
// of the band that holds it (a coefficient of level l's bands, or of LL at the
// last level, is a product of two level-l 1-D functions).
std::vector<double> pyramid_norms(TransformId id, int p, int levels, bool analysis) {
    std::vector<const std::vector<double>*> g(levels + 1);
    for (int l = 1; l <= levels; ++l) g[l] = &cached_norms_1d(id, p, l, analysis);
    std::vector<double> out(static_cast<size_t>(p) * p);
    for (int u = 0; u < p; ++u)
        for (int v = 0; v < p; ++v) {
            const int mx = std::max(u, v);
            int l = 1;
            while (l < levels && mx < (p >> l)) ++l;
            out[static_cast<size_t>(u) * p + v] = (*g[l])[u] * (*g[l])[v];
        }
    return out;
}

const char* const kBandNames[] = {"lh1", "hl1", "hh1", "lh2", "hl2", "hh2", "lh3", "hl3", "hh3", "lh4", "hl4",
                                  "hh4", "lh5", "hl5", "hh5", "lh6", "hl6", "hh6", "lh7", "hl7", "hh7"};
const char* const kLlNames[] = {"ll0", "ll1", "ll2", "ll3", "ll4", "ll5", "ll6", "ll7"};

}  // namespace

std::unique_ptr<Transform> make_lifting(TransformId id, int p, int levels) {
    if (!levels_ok(id, p, levels))
        throw Error("wavelet " + std::to_string(levels) + " levels do not fit patch size " + std::to_string(p));
    return std::make_unique<LiftingTransform>(scheme(id), p, levels);
}

std::vector<double> pyramid_gains(TransformId id, int p, int levels) { return pyramid_norms(id, p, levels, false); }
std::vector<double> pyramid_analysis_norms(TransformId id, int p, int levels) {
    return pyramid_norms(id, p, levels, true);
}

std::vector<Band> pyramid_bands(TransformId id, int p, int levels) {
    levels = std::clamp(levels, 1, 7);
    std::vector<Band> out;
    for (int l = 1; l <= levels; ++l) {
        const int h = p >> l;
        out.push_back({kBandNames[3 * (l - 1)], 0, h, h, h, 1.0});
        out.push_back({kBandNames[3 * (l - 1) + 1], h, 0, h, h, 1.0});
        out.push_back({kBandNames[3 * (l - 1) + 2], h, h, h, h, 1.0});
    }
    out.push_back({kLlNames[levels], 0, 0, p >> levels, p >> levels, 1.0});
    if (scheme(id).symmetric) {  // not orthonormal: each band's RMS synthesis gain
        const std::vector<double> g = pyramid_gains(id, p, levels);
        for (Band& b : out) {
            double s = 0;
            for (int i = b.row0; i < b.row0 + b.rows; ++i)
                for (int j = b.col0; j < b.col0 + b.cols; ++j)
                    s += g[static_cast<size_t>(i) * p + j] * g[static_cast<size_t>(i) * p + j];
            b.gain = std::sqrt(s / (static_cast<double>(b.rows) * b.cols));
        }
    }
    return out;
}

void wavelet2_reference(TransformId id, int levels, const float* in, float* out, int p, bool inverse) {
    std::vector<float> cur(in, in + static_cast<size_t>(p) * p);
    for (int k = 0; k < levels; ++k) {
        const int l = inverse ? levels - 1 - k : k, n = p >> l;
        std::vector<double> m = analysis_matrix(id, n);
        if (inverse) m = invert(m, n);
        std::vector<float> blk(static_cast<size_t>(n) * n), res(blk.size());
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) blk[static_cast<size_t>(i) * n + j] = cur[static_cast<size_t>(i) * p + j];
        separable_reference(m, blk.data(), res.data(), n, false);  // M X Mᵀ (M⁻¹ Y M⁻ᵀ for the inverse)
        for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j) cur[static_cast<size_t>(i) * p + j] = res[static_cast<size_t>(i) * n + j];
    }
    std::copy(cur.begin(), cur.end(), out);
}

}  // namespace deltacodec
