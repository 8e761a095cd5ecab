// deltacodec — the transform table, band masks and the JPEG quantization table.
#include "codec/transform.hpp"

#include <algorithm>
#include <cmath>

namespace deltacodec {

std::string_view bands_name(Bands b) {
    switch (b) {
        case Bands::ALL:
            return "all";
        case Bands::LL_LH_HL:
            return "ll_lh_hl";
        case Bands::LL_ONLY:
            return "ll_only";
    }
    return "?";
}

bool bands_from_name(std::string_view name, Bands& out) {
    for (Bands b : {Bands::ALL, Bands::LL_LH_HL, Bands::LL_ONLY})
        if (bands_name(b) == name) {
            out = b;
            return true;
        }
    return false;
}

namespace {
// DCT: one band, the whole block.
std::vector<Band> dct_bands(int p, int) { return {{"all", 0, 0, p, p, 1.0}}; }
// One-level Haar: quadrants [LL LH; HL HH] (transform_haar.cpp), orthonormal.
std::vector<Band> haar_bands(int p, int) {
    const int h = p / 2;
    return {{"ll", 0, 0, h, h, 1.0}, {"lh", 0, h, h, h, 1.0}, {"hl", h, 0, h, h, 1.0}, {"hh", h, h, h, h, 1.0}};
}

std::unique_ptr<Transform> dct_make(int p, int) { return make_dct(p); }
std::unique_ptr<Transform> haar_make(int p, int) { return make_haar(p); }

// The lifting wavelets (transform_lifting.cpp): levels 1..7, bands per level
// (lh1, hl1, hh1, lh2, …, ll<L>); ll_lh_hl drops hh1, ll_only keeps the level-1
// LL quadrant (with its deeper bands): the same kept counts as Haar's.
template <TransformId Id>
std::unique_ptr<Transform> make_wavelet(int p, int levels) {
    return make_lifting(Id, p, levels);
}
template <TransformId Id>
std::vector<Band> wavelet_bands(int p, int levels) {
    return pyramid_bands(Id, p, levels);
}
template <TransformId Id>
std::vector<double> wavelet_gains(int p, int levels) {
    return pyramid_gains(Id, p, levels);
}
constexpr std::array<uint32_t, 3> kPyramidSelections = {~0u, ~0b100u, ~0b111u};
constexpr int kMaxWaveletLevels = 7;  // p = 256 down to 2×2
// cdf97's analysis bound: the largest analysis-function norm over p = 8..256 and
// every level count is 1.894 (a corner coefficient, p = 256, 6 levels; 1.354 at
// one level); tests/test_wavelet.cpp recomputes it. Rounded up. (A loose bound
// costs nothing: f16 ranges are relative to `scale` but keep their own exponent.)
constexpr float kCdf97AnalysisBound = 1.9f;
}  // namespace

const std::vector<TransformEntry>& transform_table() {
    static const std::vector<TransformEntry> table = {
        {"dct", TransformId::DCT, false, &dct_make, 0, 0, &dct_bands, {0b1, 0, 0}, 1.f, nullptr},
        {"dwt", TransformId::HAAR, true, &haar_make, 1, 0, &haar_bands, {0b1111, 0b0111, 0b0001}, 1.f, nullptr},
        {"db2", TransformId::DB2, true, &make_wavelet<TransformId::DB2>, 1, kMaxWaveletLevels,
         &wavelet_bands<TransformId::DB2>, kPyramidSelections, 1.f, nullptr},
        {"db4", TransformId::DB4, true, &make_wavelet<TransformId::DB4>, 1, kMaxWaveletLevels,
         &wavelet_bands<TransformId::DB4>, kPyramidSelections, 1.f, nullptr},
        {"cdf97", TransformId::CDF97, true, &make_wavelet<TransformId::CDF97>, 1, kMaxWaveletLevels,
         &wavelet_bands<TransformId::CDF97>, kPyramidSelections, kCdf97AnalysisBound,
         &wavelet_gains<TransformId::CDF97>},
    };
    return table;
}

const TransformEntry* find_transform(std::string_view name) {
    for (const TransformEntry& e : transform_table())
        if (e.name == name) return &e;
    return nullptr;
}

const TransformEntry* find_transform(TransformId id) {
    for (const TransformEntry& e : transform_table())
        if (e.id == id) return &e;
    return nullptr;
}

bool levels_ok(TransformId id, int p, int levels) {
    const TransformEntry* e = find_transform(id);
    if (!e) return false;
    if (e->max_levels == 0) return levels == e->levels;
    return levels >= 1 && levels <= e->max_levels && p > 0 && p % (1 << levels) == 0 && (p >> levels) >= 2;
}

int levels_of(TransformId id, int chosen) {
    const TransformEntry* e = find_transform(id);
    return e && e->max_levels == 0 ? e->levels : chosen;
}

bool bands_offered(TransformId id, Bands bands) {
    const TransformEntry* e = find_transform(id);
    const auto b = static_cast<size_t>(bands);
    return e && b < e->selections.size() && e->selections[b] != 0;
}

std::vector<uint8_t> kept_mask(TransformId id, Bands bands, int p, int levels) {
    std::vector<uint8_t> m(static_cast<size_t>(p) * p, 1);
    if (!bands_offered(id, bands)) return m;
    const TransformEntry* e = find_transform(id);
    const uint32_t sel = e->selections[static_cast<size_t>(bands)];
    std::fill(m.begin(), m.end(), 0);
    const std::vector<Band> layout = e->band_layout(p, levels);
    for (size_t b = 0; b < layout.size(); ++b) {
        if (!((sel >> b) & 1)) continue;
        const Band& bd = layout[b];
        for (int i = bd.row0; i < bd.row0 + bd.rows; ++i)
            for (int j = bd.col0; j < bd.col0 + bd.cols; ++j) m[static_cast<size_t>(i) * p + j] = 1;
    }
    return m;
}

uint64_t kept_count(TransformId id, Bands bands, int p, int levels) {
    const uint64_t p2 = static_cast<uint64_t>(p) * p;
    if (!bands_offered(id, bands)) return p2;
    const TransformEntry* e = find_transform(id);
    const uint32_t sel = e->selections[static_cast<size_t>(bands)];
    const std::vector<Band> layout = e->band_layout(p, levels);
    uint64_t k = 0;
    for (size_t b = 0; b < layout.size(); ++b)
        if ((sel >> b) & 1) k += static_cast<uint64_t>(layout[b].rows) * layout[b].cols;
    return k;
}

std::vector<double> gain_map(TransformId id, int p, int levels) {
    std::vector<double> g(static_cast<size_t>(p) * p, 1.0);
    const TransformEntry* e = find_transform(id);
    if (!e) return g;
    if (e->position_gains) return e->position_gains(p, levels);
    for (const Band& bd : e->band_layout(p, levels))
        for (int i = bd.row0; i < bd.row0 + bd.rows; ++i)
            for (int j = bd.col0; j < bd.col0 + bd.cols; ++j) g[static_cast<size_t>(i) * p + j] = bd.gain;
    return g;
}

double gain_weighted_error(const float* c, const float* chat, const double* g2, size_t n) {
    double e = 0;
    for (size_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(c[i]) - chat[i];
        e += g2[i] * d * d;
    }
    return e;
}

std::vector<uint8_t> lowfreq_mask(TransformId, int p) {
    std::vector<uint8_t> m(static_cast<size_t>(p) * p, 0);
    for (int i = 0; i < p / 2; ++i)
        for (int j = 0; j < p / 2; ++j) m[i * p + j] = 1;
    return m;
}

void separable_reference(const std::vector<double>& m, const float* in, float* out, int p, bool inverse) {
    // forward: out[u][v] = Σ_x Σ_y M[u][x] M[v][y] in[x][y]; inverse: the transpose.
    for (int a = 0; a < p; ++a)
        for (int b = 0; b < p; ++b) {
            double s = 0;
            for (int x = 0; x < p; ++x)
                for (int y = 0; y < p; ++y) {
                    const double w = inverse ? m[x * p + a] * m[y * p + b] : m[a * p + x] * m[b * p + y];
                    s += w * in[x * p + y];
                }
            out[a * p + b] = static_cast<float>(s);
        }
}

std::vector<float> jpeg_table(int p) {
    // ITU-T T.81 Annex K, Table K.1: luminance quantization table.
    static const int k[8][8] = {
        {16, 11, 10, 16, 24, 40, 51, 61},     {12, 12, 14, 19, 26, 58, 60, 55},    {14, 13, 16, 24, 40, 57, 69, 56},
        {14, 17, 22, 29, 51, 87, 80, 62},     {18, 22, 37, 56, 68, 109, 103, 77},  {24, 35, 55, 64, 81, 104, 113, 92},
        {49, 64, 78, 87, 103, 121, 120, 101}, {72, 92, 95, 98, 112, 100, 103, 99},
    };
    // Bilinear resize with sample centres aligned: source coordinate (i+0.5)*8/p - 0.5, clamped.
    auto src = [p](int i) {
        const double s = (i + 0.5) * 8.0 / p - 0.5;
        return std::clamp(s, 0.0, 7.0);
    };
    std::vector<double> t(static_cast<size_t>(p) * p);
    for (int i = 0; i < p; ++i)
        for (int j = 0; j < p; ++j) {
            const double y = src(i), x = src(j);
            const int y0 = static_cast<int>(y), x0 = static_cast<int>(x);
            const int y1 = std::min(y0 + 1, 7), x1 = std::min(x0 + 1, 7);
            const double fy = y - y0, fx = x - x0;
            t[i * p + j] =
                (1 - fy) * ((1 - fx) * k[y0][x0] + fx * k[y0][x1]) + fy * ((1 - fx) * k[y1][x0] + fx * k[y1][x1]);
        }
    std::vector<float> out(t.size());
    for (size_t i = 0; i < t.size(); ++i) out[i] = static_cast<float>(t[i] / t[0]);
    return out;
}

}  // namespace deltacodec
