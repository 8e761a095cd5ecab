// deltacodec — per-patch 2-D transforms (step 5 of the method) and their registry.
//
// A transform maps a p×p patch (row-major f32) to p×p coefficients and back.
// Each transform declares its decomposition levels, its band layout (which
// coefficients each band holds) and a synthesis gain per band; the patch coder
// takes the kept coefficients and its error accounting from those, and assumes
// no orthonormality. dct, dwt (Haar), db2 and db4 are orthonormal (every gain
// 1, analysis bound 1); cdf97 is biorthogonal (gains per coefficient, near 1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "deltacodec/types.hpp"

namespace deltacodec {

// TransformId and Bands: deltacodec/types.hpp.

std::string_view bands_name(Bands b);
bool bands_from_name(std::string_view name, Bands& out);

class Transform {
public:
    virtual ~Transform() = default;
    int patch() const { return p_; }
    /// in, out: p*p floats, may not alias. scratch: at least p*p floats.
    virtual void forward(const float* in, float* out, float* scratch) const = 0;
    virtual void inverse(const float* in, float* out, float* scratch) const = 0;

protected:
    explicit Transform(int p) : p_(p) {}
    int p_;
};

/// One band of a p×p coefficient block: a rectangle of it, and its synthesis
/// gain g: an error e in one of the band's coefficients rebuilds to a patch
/// error of squared norm g²·e² (the norm of the band's synthesis basis
/// functions; 1 for an orthonormal transform). The coder weights each band's
/// squared coefficient error by g² (exact when the synthesis basis functions of
/// different coefficients are orthogonal, the usual estimate otherwise).
struct Band {
    std::string_view name;
    int row0, col0, rows, cols;
    double gain;
};

/// One row of the transform table: adding a transform is adding a row.
struct TransformEntry {
    std::string_view name;  ///< CLI name (--method)
    TransformId id;
    bool has_bands;  ///< accepts --bands (some Bands value other than ALL is offered)
    std::unique_ptr<Transform> (*make)(int p, int levels);
    /// Decomposition levels: fixed (0: a block transform) when max_levels is 0;
    /// else the default of a per-tensor choice in 1..max_levels (levels_ok()).
    int levels;
    int max_levels;
    /// Disjoint bands covering the p×p block at `levels` levels.
    std::vector<Band> (*band_layout)(int p, int levels);
    /// Per Bands code (ALL, LL_LH_HL, LL_ONLY): bit i set keeps band i (at most
    /// 32 bands; bits past the layout's are ignored); 0 = not offered.
    std::array<uint32_t, 3> selections;
    /// max |coefficient| / ‖patch‖_F over all patches, sizes and levels (1 when
    /// orthonormal): bounds the per-tensor `scale` that f16 patch ranges are relative to.
    float analysis_bound;
    /// Per position of the p×p block: the norm of its synthesis basis function,
    /// when it varies inside a band (boundary extension); nullptr: the band's gain.
    std::vector<double> (*position_gains)(int p, int levels);
};

const std::vector<TransformEntry>& transform_table();
const TransformEntry* find_transform(std::string_view name);
const TransformEntry* find_transform(TransformId id);

/// True when `levels` decomposition levels are valid for transform `id` at patch
/// size p: the row's fixed count, or 1..max_levels with p / 2^levels ≥ 2.
bool levels_ok(TransformId id, int p, int levels);
/// The level count a tensor coded with transform `id` records: the row's fixed
/// count, or `chosen` for a multi-level wavelet.
int levels_of(TransformId id, int chosen);

/// True when transform `id` offers the band choice `bands`.
bool bands_offered(TransformId id, Bands bands);
/// Positions of a p×p coefficient block that are stored (1) or dropped (0):
/// the union of the bands the choice selects (all when it is not offered).
std::vector<uint8_t> kept_mask(TransformId id, Bands bands, int p, int levels);
/// Number of positions kept_mask() keeps.
uint64_t kept_count(TransformId id, Bands bands, int p, int levels);
/// Per position of the p×p block: the synthesis gain of its coefficient (the
/// band's, or the row's position_gains()).
std::vector<double> gain_map(TransformId id, int p, int levels);
/// The patch error that coefficients `c` rebuilt as `chat` cost, from the band
/// gains: Σ g2[i]·(c[i] − chat[i])² over n positions (g2: gain² per position).
double gain_weighted_error(const float* c, const float* chat, const double* g2, size_t n);
/// "Low-frequency" positions used by post-transform importance: the top-left
/// (p/2)×(p/2) quarter (DCT: u,v < p/2; Haar: the LL band).
std::vector<uint8_t> lowfreq_mask(TransformId id, int p);
/// The JPEG luminance table (ITU T.81 K.1) resized bilinearly to p×p and
/// divided by its [0][0] entry (FORMAT.md).
std::vector<float> jpeg_table(int p);

/// The plain reference for any separable orthonormal transform with 1-D
/// analysis matrix M (p×p, row-major, double): Y = M X Mᵀ, or X = Mᵀ Y M
/// when `inverse`; direct O(p^4) sums in double.
void separable_reference(const std::vector<double>& m, const float* in, float* out, int p, bool inverse);

// Plain reference versions (direct formulas, O(p^4)); tests compare against them.
void dct2_reference(const float* in, float* out, int p);
void idct2_reference(const float* in, float* out, int p);
void haar2_reference(const float* in, float* out, int p);
void ihaar2_reference(const float* in, float* out, int p);

/// The lifting wavelets' reference (transform_lifting.cpp): `levels` levels of
/// the 2-D pyramid (each on the top-left (p/2^l)² block), each level the 1-D
/// analysis matrix built by direct convolution with the wavelet's filter taps
/// (periodic extension for db2/db4, whole-sample symmetric for cdf97) applied as
/// M X Mᵀ; the inverse applies M⁻¹ (Gauss–Jordan in double). O(p^4).
void wavelet2_reference(TransformId id, int levels, const float* in, float* out, int p, bool inverse);

// Fast transforms (registered in the table).
std::unique_ptr<Transform> make_dct(int p);
std::unique_ptr<Transform> make_haar(int p);
/// db2, db4 or cdf97 by lifting, `levels` levels (levels_ok()).
std::unique_ptr<Transform> make_lifting(TransformId id, int p, int levels);
/// Their band layout at `levels` levels: lh1, hl1, hh1, lh2, …, hh<levels>, ll<levels>
/// (level 1 the finest; quadrants [LL LH; HL HH] at each level, as Haar's).
std::vector<Band> pyramid_bands(TransformId id, int p, int levels);
/// Their per-position synthesis gains (pyramid_bands() gives each band their RMS).
std::vector<double> pyramid_gains(TransformId id, int p, int levels);
/// Per position: the norm of its analysis function (max |coefficient| / ‖patch‖
/// that position can reach; Cauchy–Schwarz, attained by that function itself).
std::vector<double> pyramid_analysis_norms(TransformId id, int p, int levels);

}  // namespace deltacodec
