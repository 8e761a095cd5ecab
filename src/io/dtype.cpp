// deltacodec — dtype table and float16/bfloat16 conversions (plain bit arithmetic).
#include "io/dtype.hpp"

#include <array>
#include <cstring>
#include <stdexcept>

#include "codec/kernels.hpp"

namespace deltacodec {
namespace {

struct DTypeRow {
    std::string_view name;
    size_t bits;
};
constexpr std::array<DTypeRow, kNumDTypes> kTable = {{
    {"BOOL", 8},    {"U8", 8},      {"I8", 8},   {"I16", 16},    {"U16", 16},    {"F16", 16}, {"BF16", 16},
    {"I32", 32},    {"U32", 32},    {"F32", 32}, {"F64", 64},    {"I64", 64},    {"U64", 64}, {"F8_E5M2", 8},
    {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F4", 4},   {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"C64", 64},
}};

inline uint32_t bits_of(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
inline float float_of(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

}  // namespace

std::string_view dtype_name(DType t) { return kTable[static_cast<size_t>(t)].name; }

std::optional<DType> dtype_from_name(std::string_view name) {
    for (size_t i = 0; i < kTable.size(); ++i)
        if (kTable[i].name == name) return static_cast<DType>(i);
    return std::nullopt;
}

std::optional<DType> dtype_from_code(uint8_t code) {
    if (code >= kNumDTypes) return std::nullopt;
    return static_cast<DType>(code);
}

size_t dtype_bits(DType t) { return kTable[static_cast<size_t>(t)].bits; }

size_t dtype_size(DType t) {
    const size_t bits = dtype_bits(t);
    return bits % 8 ? 0 : bits / 8;
}

std::optional<uint64_t> dtype_nbytes(DType t, uint64_t numel) {
    // As the reference reader: numel × bits must fit u64 and be a multiple of 8.
    const uint64_t bits = dtype_bits(t);
    if (numel > UINT64_MAX / bits) return std::nullopt;
    if ((numel * bits) % 8 != 0) return std::nullopt;
    return numel * bits / 8;
}

bool dtype_is_compressible(DType t) { return t == DType::F16 || t == DType::BF16 || t == DType::F32; }

float f16_to_f32(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0x1f) return float_of(sign | 0x7f800000 | (mant << 13) | (mant ? 0x400000u : 0u));  // inf / quiet NaN
    if (exp != 0) return float_of(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return float_of(sign);
    // subnormal: mant * 2^-24, exact in f32
    const float v = static_cast<float>(mant) * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

uint16_t f32_to_f16(float f) {
    const uint32_t x = bits_of(f);
    const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return sign | 0x7e00 | static_cast<uint16_t>((ax >> 13) & 0x3ff);  // NaN
    if (ax >= 0x477ff000) return sign | 0x7c00;  // >= 65520 rounds to infinity
    if (ax >= 0x38800000) {                      // normal half
        const uint32_t mant = ax & 0x7fffff;
        const uint32_t e = (ax >> 23) - 112;
        uint32_t h = (e << 10) | (mant >> 13);
        const uint32_t rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) ++h;  // carry into the exponent is right
        return static_cast<uint16_t>(sign | h);
    }
    if (ax <= 0x33000000) return sign;  // <= 2^-25 rounds (ties to even) to zero
    const uint32_t mant = (ax & 0x7fffff) | 0x800000;
    const int shift = 126 - static_cast<int>(ax >> 23);  // 14..24
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
}

namespace {
// Next f16 toward -inf (dir < 0) or +inf (dir > 0); h is finite.
uint16_t f16_step(uint16_t h, int dir) {
    const bool neg = h & 0x8000;
    const uint16_t mag = h & 0x7fff;
    if (mag == 0) return dir > 0 ? 0x0001 : 0x8001;
    if ((dir > 0) != neg) return static_cast<uint16_t>(h + 1);  // away from zero
    return static_cast<uint16_t>(h - 1);                        // toward zero
}
}  // namespace

uint16_t f32_to_f16_down(float f) {
    uint16_t h = f32_to_f16(f);
    if ((h & 0x7c00) == 0x7c00) return h;  // inf / NaN
    if (f16_to_f32(h) > f) h = f16_step(h, -1);
    return h;
}

uint16_t f32_to_f16_up(float f) {
    uint16_t h = f32_to_f16(f);
    if ((h & 0x7c00) == 0x7c00) return h;
    if (f16_to_f32(h) < f) h = f16_step(h, +1);
    return h;
}

float bf16_to_f32(uint16_t h) { return float_of(static_cast<uint32_t>(h) << 16); }

uint16_t f32_to_bf16(float f) {
    const uint32_t x = bits_of(f);
    if ((x & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
    return static_cast<uint16_t>((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

namespace {
// The kernels between a 16-bit float dtype and f32 (F16, BF16); throws for others.
struct HalfKernels {
    void (*to_f32)(const uint16_t*, float*, size_t);
    void (*from_f32)(const float*, uint16_t*, size_t);
};
HalfKernels half_kernels(DType t, const char* who) {
    const Kernels& k = kernels();
    if (t == DType::F16) return {k.f16_to_f32, k.f32_to_f16};
    if (t == DType::BF16) return {k.bf16_to_f32, k.f32_to_bf16};
    throw std::logic_error(std::string(who) + ": dtype is not compressible");
}
}  // namespace

void to_f32(DType t, const void* src, float* dst, size_t n) {
    if (t == DType::F32)
        std::memcpy(dst, src, n * 4);
    else
        half_kernels(t, "to_f32").to_f32(static_cast<const uint16_t*>(src), dst, n);
}

void from_f32(DType t, const float* src, void* dst, size_t n) {
    if (t == DType::F32)
        std::memcpy(dst, src, n * 4);
    else
        half_kernels(t, "from_f32").from_f32(src, static_cast<uint16_t*>(dst), n);
}

}  // namespace deltacodec
