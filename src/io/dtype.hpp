// deltacodec — safetensors element types and float conversions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "deltacodec/types.hpp"

namespace deltacodec {

// DType and kNumDTypes: deltacodec/types.hpp.

std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);
std::optional<DType> dtype_from_code(uint8_t code);
/// Bits per element (4 for F4, 6 for F6_*, 8·bytes for the others).
size_t dtype_bits(DType t);
/// Bytes per element; 0 for the sub-byte dtypes (F4, F6_E2M3, F6_E3M2), whose
/// elements are packed: size those with dtype_nbytes().
size_t dtype_size(DType t);
/// Bytes of `numel` elements (numel × bits / 8); nullopt when that overflows u64
/// or is not a whole number of bytes (a sub-byte dtype; the reference reader's
/// MisalignedSlice).
std::optional<uint64_t> dtype_nbytes(DType t, uint64_t numel);
/// F16, BF16 and F32: the dtypes the lossy pipeline accepts.
bool dtype_is_compressible(DType t);

// --- scalar conversions (round to nearest even, NaN/Inf preserved) ---
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
/// f16 rounding toward -inf / +inf (used for quantizer ranges).
uint16_t f32_to_f16_down(float f);
uint16_t f32_to_f16_up(float f);

/// Converts n elements of a compressible dtype to f32.
void to_f32(DType t, const void* src, float* dst, size_t n);
/// Converts n f32 values to a compressible dtype (round to nearest even).
void from_f32(DType t, const float* src, void* dst, size_t n);

}  // namespace deltacodec
