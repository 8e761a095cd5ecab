// deltacodec (internal) — the patch coder's quantizer stage: from a coded
// patch's kept coefficients and its width to symbols plus side information
// (stored per coded patch in the PATCH record's `meta` blob), and back.
//
// A quantizer is made once per tensor (its configuration is per tensor) and
// called once per coded patch: dispatch is per patch, never per coefficient.
// Its loops are the kernels' (kernels.hpp), so the AVX2 forms stay in use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "codec/codec.hpp"

namespace deltacodec {

/// What a quantizer is configured with, per tensor.
struct QuantizerConfig {
    bool meta_f32 = false;  ///< side information in f32 (else f16 fractions of `scale`)
    float scale = 0;        ///< the tensor's range scale (FORMAT.md, PATCH `scale`)
    RangeRule range = RangeRule::MINMAX;
    /// Per kept coefficient, the factor its error is rebuilt with (JPEG table
    /// entry × band gain); nullptr when every factor is 1. fit() minimises the
    /// error weighted by it. Must outlive the quantizer.
    const double* weights = nullptr;
};

class Quantizer {
public:
    virtual ~Quantizer() = default;
    /// Bytes of side information per coded patch.
    virtual size_t side_bytes() const = 0;
    /// Chooses the side information for one patch's n kept coefficients at
    /// `bits` (1..8) and writes it (side_bytes() bytes) to `side`.
    /// scratch_f: n floats, scratch_q: n bytes (contents garbage on entry and exit).
    virtual void fit(const float* vals, size_t n, int bits, uint8_t* side, float* scratch_f,
                     uint8_t* scratch_q) const = 0;
    /// Symbols (each < 2^bits) of the coefficients under the stored side information.
    virtual void quantize(const float* vals, size_t n, int bits, const uint8_t* side, uint8_t* q) const = 0;
    /// Coefficients rebuilt from the symbols and the stored side information.
    virtual void dequantize(const uint8_t* q, size_t n, int bits, const uint8_t* side, float* out) const = 0;
    /// The encoder's step for one patch: fit(), then the symbols `q` and the
    /// coefficients as they will be rebuilt, `vhat`, in one call (a quantizer
    /// may keep its fitted parameters in registers). scratch as for fit().
    virtual void code(const float* vals, size_t n, int bits, uint8_t* side, uint8_t* q, float* vhat) const {
        fit(vals, n, bits, side, vhat, q);
        quantize(vals, n, bits, side, q);
        dequantize(q, n, bits, side, vhat);
    }
    /// False when stored side information cannot be used (a reader checks every patch's).
    virtual bool side_ok(const uint8_t* side) const = 0;
};

/// One row of the quantizer table.
struct QuantizerEntry {
    std::string_view name;
    std::unique_ptr<Quantizer> (*make)(const QuantizerConfig& cfg);
    /// Side bytes per coded patch under `cfg` (known before any patch is coded).
    size_t (*side_bytes)(const QuantizerConfig& cfg);
};

const std::vector<QuantizerEntry>& quantizer_table();
const QuantizerEntry* find_quantizer(std::string_view name);

/// The first quantizer, "minmax": per patch a range [lo, hi] (the coefficients'
/// min and max; with RangeRule::MSE shrunk toward 0 by the factor from a fixed
/// list that gives the least weighted error), stored as f16 fractions of
/// `scale` rounded outward, or as f32; symbols are the linear quantizer of
/// quantize_ref() over the stored range.
std::unique_ptr<Quantizer> make_minmax_quantizer(const QuantizerConfig& cfg);

/// "minmax" side information is usable: lo and hi (f16 or f32) are finite.
bool minmax_side_ok(bool meta_f32, const uint8_t* side);

/// Plain reference for "minmax": the side information fit() must write, from
/// direct formulas (quantize_ref, dequantize_ref, f16 conversions).
void minmax_fit_ref(const QuantizerConfig& cfg, const float* vals, size_t n, int bits, uint8_t* side);

}  // namespace deltacodec
