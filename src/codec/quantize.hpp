// deltacodec — per-patch linear min/max quantization (step 5) and bit packing (step 6).
#pragma once

#include <cstddef>
#include <cstdint>

namespace deltacodec {

/// q = clamp(floor((c - lo) * ((2^b - 1) / (hi - lo)) + 0.5), 0, 2^b - 1); all 0 when hi <= lo.
/// bits in 1..8. Plain reference.
void quantize_ref(const float* c, size_t n, int bits, float lo, float hi, uint8_t* q);
/// c = lo + q * ((hi - lo) / (2^b - 1)). Plain reference.
void dequantize_ref(const uint8_t* q, size_t n, int bits, float lo, float hi, float* c);
/// Fast versions (identical results).
void quantize(const float* c, size_t n, int bits, float lo, float hi, uint8_t* q);
void dequantize(const uint8_t* q, size_t n, int bits, float lo, float hi, float* c);

/// Bytes needed for n codes of `bits` bits.
inline size_t packed_size(size_t n, int bits) { return (n * static_cast<size_t>(bits) + 7) / 8; }
/// Packs n codes (each < 2^bits) LSB-first into packed_size(n, bits) bytes. Plain reference.
void pack_bits_ref(const uint8_t* codes, size_t n, int bits, uint8_t* out);
void unpack_bits_ref(const uint8_t* in, size_t n, int bits, uint8_t* codes);
/// Fast versions (identical results).
void pack_bits(const uint8_t* codes, size_t n, int bits, uint8_t* out);
void unpack_bits(const uint8_t* in, size_t n, int bits, uint8_t* codes);

}  // namespace deltacodec
