// deltacodec — the lossy pipeline for one 2-D tensor:
// delta → patches → importance → allocation → transform → quantize → pack,
// and back. Container framing lives in container.hpp; whole checkpoints in deltacodec.hpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "codec/allocation.hpp"
#include "codec/transform.hpp"
#include "deltacodec/types.hpp"
#include "io/dtype.hpp"
#include "io/parallel.hpp"
#include "io/progress.hpp"

namespace deltacodec {

inline constexpr int kMinPatch = 8, kMaxPatch = 256;
/// Patch sizes: multiples of 8 in [8, 256] (so every coded patch is a whole
/// number of bytes at every width and band choice).
bool patch_size_ok(int p);
/// What a patch size that is not patch_size_ok() is, for messages.
inline constexpr const char* kPatchSizeProblem = "is not a multiple of 8 between 8 and 256";

// RangeRule and CodecParams: deltacodec/types.hpp.

/// Step 1: the delta of a 2-D tensor, read row by row in f32 (ft − base).
struct DeltaView {
    const void* base;
    DType base_dtype;
    const void* ft;
    DType ft_dtype;
    uint64_t rows, cols;
    /// out[i*cols + j] = ft[r0+i][j] - base[r0+i][j]; tmp: cols floats.
    void read_rows(uint64_t r0, uint64_t n, float* out, float* tmp) const;
};

enum : uint8_t { kFlagJpeg = 1, kFlagMetaF32 = 2 };

/// The CODED body of a .dcx tensor record (FORMAT.md), in memory.
struct CodedTensor {
    uint64_t rows = 0, cols = 0;
    int patch = 0;
    TransformId transform = TransformId::HAAR;
    Bands bands = Bands::ALL;
    int levels = 1;  ///< decomposition levels (levels_of(transform, …): 0 for dct, 1 for haar)
    uint8_t flags = 0;
    float scale = 0;
    std::vector<uint8_t> widths;  ///< distinct widths, increasing
    /// Per patch: index into widths. Empty when there is one width (then every
    /// patch has it), so a record never needs memory its file does not hold.
    std::vector<uint8_t> selectors;
    std::vector<uint8_t> meta;   ///< per coded patch: lo, hi (f16 or f32)
    std::vector<uint8_t> codes;  ///< symbol streams (bit packed), patch row after patch row

    uint64_t patch_rows() const { return (rows + patch - 1) / patch; }
    uint64_t patch_cols() const { return (cols + patch - 1) / patch; }
    uint64_t num_patches() const { return patch_rows() * patch_cols(); }
    uint8_t width_of(uint64_t patch_index) const { return widths[selectors.empty() ? 0 : selectors[patch_index]]; }
    /// Coefficients stored per coded patch (from the transform's band layout:
    /// p², 3p²/4 or p²/4 today).
    uint64_t kept_per_patch() const;
    /// Side-information bytes per coded patch (the quantizer's: lo, hi in f16 or f32).
    size_t meta_bytes_per_patch() const;
    /// Code bytes of one patch coded at `width` bits (the symbol coder's; 0 at width 0).
    uint64_t code_bytes(uint8_t width) const;
};

struct TensorStats {
    double err2 = 0;  ///< ‖Δ̂ − Δ‖² over the tensor
    double ref2 = 0;  ///< ‖Δ‖²
    uint64_t patches = 0, coded_patches = 0;
};

/// Encodes one tensor; nullopt when the delta holds NaN or infinity (the
/// caller then stores it exactly). Output is identical for every pool size.
/// `progress`, when given, hears each finished patch row of both passes
/// (within(rows done, 2 × patch rows), from the pool's threads).
std::optional<CodedTensor> encode_tensor(const DeltaView& delta, const CodecParams& params, ThreadPool& pool,
                                         TensorStats& stats, ProgressMeter* progress = nullptr);

/// Checks a CodedTensor's fixed fields (patch, transform, levels, bands, flags, scale,
/// widths, shape bound), not its selectors, metadata or codes; throws Error.
void validate_coded_header(const CodedTensor& ct);
/// True when the patch range at `m` (4 bytes of f16 or 8 of f32) is finite.
bool patch_range_ok(const uint8_t* m, size_t meta_bytes);

/// Checks that every size in a CodedTensor (e.g. read from a file) agrees
/// with its shape and widths; throws Error. decode_tensor() requires it.
void validate_coded(const CodedTensor& ct);

/// Decodes a tensor a band of patch rows at a time (for streaming output in
/// chunks); the per-patch offsets are computed once. Holds a reference to `ct`.
class TensorDecoder {
public:
    explicit TensorDecoder(const CodedTensor& ct);
    ~TensorDecoder();
    uint64_t patch_rows() const;
    /// As decode_tensor(), for patch rows [pr_begin, pr_end) only.
    void decode_rows(ThreadPool& pool, uint64_t pr_begin, uint64_t pr_end,
                     const std::function<void(uint64_t r0, uint64_t nrows, const float* strip)>& sink) const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// Decodes patch row by patch row: sink(r0, nrows, strip) receives Δ̂ rows
/// [r0, r0+nrows) (nrows × cols floats); calls for different rows may run concurrently.
void decode_tensor(const CodedTensor& ct, ThreadPool& pool,
                   const std::function<void(uint64_t r0, uint64_t nrows, const float* strip)>& sink);

}  // namespace deltacodec
