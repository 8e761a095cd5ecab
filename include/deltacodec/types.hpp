// deltacodec — the value types the public API's signatures use (CompressOptions'
// CodecParams, TensorSink's DType and Shape) and the two program-level settings
// the CLI needs (kMaxThreads, install_signal_handlers()). The library's internal
// headers (src/) include this one for them, so each is declared once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace deltacodec {

/// safetensors dtypes; the numeric values are the .dcx dtype codes (FORMAT.md).
enum class DType : uint8_t {
    BOOL = 0,
    U8,
    I8,
    I16,
    U16,
    F16,
    BF16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
    F8_E5M2,
    F8_E4M3,
    // Added after v1.0 (codes only ever appended): the reference reader's newer dtypes.
    F8_E8M0,
    F4,       ///< 4 bits per element, packed
    F6_E2M3,  ///< 6 bits per element, packed
    F6_E3M2,  ///< 6 bits per element, packed
    C64,      ///< complex, two f32
};
inline constexpr int kNumDTypes = 20;

using Shape = std::vector<uint64_t>;

/// A tensor in the caller's memory, for compress() from memory: `nbytes` bytes
/// at `data` in C order, little-endian, as a safetensors file stores them. The
/// bytes must stay valid and unchanged for the whole call.
struct TensorView {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    const void* data = nullptr;
    uint64_t nbytes = 0;
};

/// .dcx transform codes (FORMAT.md): the seed's DCT and one-level Haar, and
/// multi-level wavelets by lifting (Daubechies 4- and 8-tap, CDF 9/7).
enum class TransformId : uint8_t { DCT = 0, HAAR = 1, DB2 = 2, DB4 = 3, CDF97 = 4 };
/// Which Haar sub-bands are kept (the seed's `all`, `ll_lh_hl`, `ll_only`).
enum class Bands : uint8_t { ALL = 0, LL_LH_HL = 1, LL_ONLY = 2 };

struct BitTier {
    int bits;         ///< 0..8; 0 = patch dropped (rebuilt as zeros)
    double fraction;  ///< share of the tensor's patches
};

/// An allocation spec `BITS:FRACTION,...`, e.g. `2:0.34,1:0.33,0:0.33`.
struct BitSpec {
    std::vector<BitTier> tiers;  ///< sorted by bits, highest first

    /// Parses and validates (widths 0..8, each once, fractions in [0,1]
    /// summing to 1 within 1e-3); throws Error with the reason.
    static BitSpec parse(std::string_view text);
    std::string str() const;
    /// Expected bits per coded coefficient (Σ bits·fraction).
    double mean_bits() const;
};

/// How each coded patch's quantizer range is chosen.
enum class RangeRule : uint8_t {
    MINMAX,  ///< the seed's: [min, max] of the patch's coefficients
    MSE,     ///< [min, max] shrunk toward 0 by the factor that minimises the patch's squared error
};

struct CodecParams {
    TransformId transform = TransformId::HAAR;
    Bands bands = Bands::LL_LH_HL;
    int patch = 64;
    int levels = 1;  ///< decomposition levels of db2, db4, cdf97 (1..7, p / 2^levels ≥ 2)
    BitSpec bits = BitSpec::parse("2:0.5,0:0.5");
    bool jpeg_table = false;       ///< divide DCT coefficients by the resized JPEG table
    bool post_importance = false;  ///< rank patches by low-frequency energy after the transform
    bool meta_f32 = false;         ///< per-patch ranges in f32 instead of f16 (FORMAT.md)
    RangeRule range = RangeRule::MINMAX;
};

/// Rate control: the weight w of a tensor's squared error ‖Δ̂−Δ‖² in the total
/// distortion the allocator minimises (`--rd-weight`).
enum class RdWeight : uint8_t {
    NONE,   ///< w = 1: plain squared error of the delta
    BASE,   ///< w = 1/‖W_base‖²: error relative to the base tensor's size
    DELTA,  ///< w = 1/‖Δ‖²: each tensor's relative error counts alike
};

/// `--sparse-gain`: the one scale a sparse record multiplies its kept values by.
enum class SparseGain : uint8_t {
    MSE,         ///< 1: the quantizer's least-error centroids
    PROJECTION,  ///< ‖Δ‖²/⟨Δ̃,Δ⟩: the fine-tune's change along its own direction kept
    DARE,        ///< 1/q, q the fraction of entries kept (DARE's rescale)
};

/// More threads than this are never started (a huge -T is capped, not obeyed).
inline constexpr unsigned kMaxThreads = 256;

/// Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGPIPE (a reader of
/// standard output that went away) that remove every registered
/// temporary file and directory (the outputs being written) and then re-raise
/// the signal with its default action; and a handler for SIGBUS that, for a fault
/// inside a MappedFile (an input that shrank while mapped), writes one line
/// "deltacodec: error: PATH changed or shrank while being read", removes the
/// temporaries and exits with status 1. A signal that is ignored (SIG_IGN, e.g.
/// SIGHUP under nohup, SIGPIPE in Python) stays ignored. The library never calls this itself:
/// programs (the CLI) call it once at start.
void install_signal_handlers();

}  // namespace deltacodec
