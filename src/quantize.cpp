// deltacodec — linear quantizer and LSB-first bit packing, reference and fast forms.
#include "deltacodec/quantize.hpp"

#include <cmath>
#include <cstring>

#include "kernels.hpp"

namespace deltacodec {

namespace {
inline float inv_step(int bits, float lo, float hi) { return static_cast<float>((1u << bits) - 1) / (hi - lo); }
}  // namespace

void quantize_ref(const float* c, size_t n, int bits, float lo, float hi, uint8_t* q) {
    if (!(hi > lo)) {
        std::memset(q, 0, n);
        return;
    }
    const float inv = inv_step(bits, lo, hi);
    const int top = (1 << bits) - 1;
    for (size_t i = 0; i < n; ++i) {
        long v = static_cast<long>(std::floor((c[i] - lo) * inv + 0.5f));
        if (v < 0) v = 0;
        if (v > top) v = top;
        q[i] = static_cast<uint8_t>(v);
    }
}

void dequantize_ref(const uint8_t* q, size_t n, int bits, float lo, float hi, float* c) {
    const float step = (hi - lo) / static_cast<float>((1u << bits) - 1);
    for (size_t i = 0; i < n; ++i) c[i] = lo + static_cast<float>(q[i]) * step;
}

void quantize(const float* c, size_t n, int bits, float lo, float hi, uint8_t* q) {
    kernels().quantize(c, n, bits, lo, hi, q);
}

void dequantize(const uint8_t* q, size_t n, int bits, float lo, float hi, float* c) {
    kernels().dequantize(q, n, bits, lo, hi, c);
}

void pack_bits_ref(const uint8_t* codes, size_t n, int bits, uint8_t* out) {
    if (n == 0) return;
    std::memset(out, 0, packed_size(n, bits));
    size_t pos = 0;
    for (size_t i = 0; i < n; ++i)
        for (int b = 0; b < bits; ++b, ++pos)
            if ((codes[i] >> b) & 1) out[pos >> 3] |= static_cast<uint8_t>(1u << (pos & 7));
}

void unpack_bits_ref(const uint8_t* in, size_t n, int bits, uint8_t* codes) {
    size_t pos = 0;
    for (size_t i = 0; i < n; ++i) {
        uint8_t v = 0;
        for (int b = 0; b < bits; ++b, ++pos) v |= static_cast<uint8_t>(((in[pos >> 3] >> (pos & 7)) & 1) << b);
        codes[i] = v;
    }
}

// Fast packing: groups of 8 codes make exactly `bits` bytes; build them in a
// 64-bit accumulator. The tail (n % 8 codes) goes through the reference.
void pack_bits(const uint8_t* codes, size_t n, int bits, uint8_t* out) {
    if (n == 0) return;
    if (bits == 8) {
        std::memcpy(out, codes, n);
        return;
    }
    const size_t groups = n / 8;
    for (size_t g = 0; g < groups; ++g) {
        const uint8_t* c = codes + g * 8;
        uint64_t acc = 0;
        for (int k = 0; k < 8; ++k) acc |= static_cast<uint64_t>(c[k]) << (k * bits);
        uint8_t* o = out + g * static_cast<size_t>(bits);
        for (int k = 0; k < bits; ++k) o[k] = static_cast<uint8_t>(acc >> (8 * k));
    }
    const size_t rest = n - groups * 8;
    if (rest) pack_bits_ref(codes + groups * 8, rest, bits, out + groups * static_cast<size_t>(bits));
}

void unpack_bits(const uint8_t* in, size_t n, int bits, uint8_t* codes) {
    if (n == 0) return;
    if (bits == 8) {
        std::memcpy(codes, in, n);
        return;
    }
    const size_t groups = n / 8;
    const uint64_t mask = (1u << bits) - 1;
    for (size_t g = 0; g < groups; ++g) {
        const uint8_t* s = in + g * static_cast<size_t>(bits);
        uint64_t acc = 0;
        for (int k = 0; k < bits; ++k) acc |= static_cast<uint64_t>(s[k]) << (8 * k);
        uint8_t* c = codes + g * 8;
        for (int k = 0; k < 8; ++k) c[k] = static_cast<uint8_t>((acc >> (k * bits)) & mask);
    }
    const size_t rest = n - groups * 8;
    if (rest) unpack_bits_ref(in + groups * static_cast<size_t>(bits), rest, bits, codes + groups * 8);
}

}  // namespace deltacodec
