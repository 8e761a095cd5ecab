// deltacodec — per-patch 2-D transforms (step 5 of the method) and their registry.
//
// A transform maps a p×p patch (row-major f32) to p×p coefficients and back.
// Both registered transforms are orthonormal, so coefficient-domain energy and
// error equal spatial-domain energy and error (Parseval).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace deltacodec {

/// .dcx transform codes (FORMAT.md).
enum class TransformId : uint8_t { DCT = 0, HAAR = 1 };
/// Which Haar sub-bands are kept (the seed's `all`, `ll_lh_hl`, `ll_only`).
enum class Bands : uint8_t { ALL = 0, LL_LH_HL = 1, LL_ONLY = 2 };

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

/// One row of the transform table: adding a transform is adding a row.
struct TransformEntry {
    std::string_view name;  ///< CLI name (--method)
    TransformId id;
    bool has_bands;  ///< accepts --bands
    std::unique_ptr<Transform> (*make)(int p);
};

const std::vector<TransformEntry>& transform_table();
const TransformEntry* find_transform(std::string_view name);
const TransformEntry* find_transform(TransformId id);

/// Positions of a p×p coefficient block that are stored (1) or dropped (0).
std::vector<uint8_t> kept_mask(TransformId id, Bands bands, int p);
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

// Fast transforms (registered in the table).
std::unique_ptr<Transform> make_dct(int p);
std::unique_ptr<Transform> make_haar(int p);

}  // namespace deltacodec
