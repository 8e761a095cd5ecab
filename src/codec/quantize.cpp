// deltacodec — linear quantizer and LSB-first bit packing, reference and fast
// forms; the quantizer table (quantizer.hpp) and its first row, "minmax".
#include "codec/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "codec/kernels.hpp"
#include "codec/quantizer.hpp"
#include "io/dtype.hpp"

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

namespace {
// What packing and unpacking have nothing to do for: no codes, or 8 bits (a copy).
bool trivially_packed(const uint8_t* src, size_t n, int bits, uint8_t* dst) {
    if (n && bits == 8) std::memcpy(dst, src, n);
    return n == 0 || bits == 8;
}
}  // namespace

// Fast packing: groups of 8 codes make exactly `bits` bytes; build them in a
// 64-bit accumulator. The tail (n % 8 codes) goes through the reference.
void pack_bits(const uint8_t* codes, size_t n, int bits, uint8_t* out) {
    if (trivially_packed(codes, n, bits, out)) return;
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
    if (trivially_packed(in, n, bits, codes)) return;
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

// ---- the "minmax" quantizer ------------------------------------------------------

namespace {

// Range shrink factors tried by RangeRule::MSE, largest first (ties keep the larger).
constexpr float kRangeShrink[] = {1.f,  0.9f,  0.8f, 0.7f,  0.6f, 0.5f,  0.42f, 0.35f,
                                  0.3f, 0.25f, 0.2f, 0.15f, 0.1f, 0.05f, 0.f};

size_t minmax_side_bytes(const QuantizerConfig& cfg) { return cfg.meta_f32 ? 8 : 4; }

// Stores [l, h] (f16 fractions of scale rounded outward, or f32) and sets l, h
// to the range as stored.
void store_range(const QuantizerConfig& cfg, float& l, float& h, uint8_t* side) {
    if (cfg.meta_f32) {
        std::memcpy(side, &l, 4);
        std::memcpy(side + 4, &h, 4);
        return;
    }
    const float scale = cfg.scale;
    const uint16_t l16 = scale > 0 ? f32_to_f16_down(l / scale) : 0;
    const uint16_t h16 = scale > 0 ? f32_to_f16_up(h / scale) : 0;
    l = f16_to_f32(l16) * scale;
    h = f16_to_f32(h16) * scale;
    side[0] = static_cast<uint8_t>(l16);
    side[1] = static_cast<uint8_t>(l16 >> 8);
    side[2] = static_cast<uint8_t>(h16);
    side[3] = static_cast<uint8_t>(h16 >> 8);
}

void load_range(const QuantizerConfig& cfg, const uint8_t* side, float& l, float& h) {
    if (cfg.meta_f32) {
        std::memcpy(&l, side, 4);
        std::memcpy(&h, side + 4, 4);
    } else {
        l = f16_to_f32(static_cast<uint16_t>(side[0] | (side[1] << 8))) * cfg.scale;
        h = f16_to_f32(static_cast<uint16_t>(side[2] | (side[3] << 8))) * cfg.scale;
    }
}

class MinMaxQuantizer final : public Quantizer {
public:
    explicit MinMaxQuantizer(const QuantizerConfig& cfg) : cfg_(cfg), kn_(kernels()) {}
    size_t side_bytes() const override { return minmax_side_bytes(cfg_); }

    void fit(const float* vals, size_t n, int bits, uint8_t* side, float* vhat, uint8_t* q) const override {
        float lo, hi;
        fit_range(vals, n, bits, side, vhat, q, lo, hi);
    }

    void code(const float* vals, size_t n, int bits, uint8_t* side, uint8_t* q, float* vhat) const override {
        float lo, hi;  // the stored range, as dequantize() will read it back
        fit_range(vals, n, bits, side, vhat, q, lo, hi);
        kn_.quantize(vals, n, bits, lo, hi, q);
        kn_.dequantize(q, n, bits, lo, hi, vhat);
    }

    void fit_range(const float* vals, size_t n, int bits, uint8_t* side, float* vhat, uint8_t* q, float& lo,
                   float& hi) const {
        kn_.minmax(vals, n, &lo, &hi);
        if (cfg_.range == RangeRule::MSE) {
            // Shrink the range toward zero by the factor (from a fixed list, 0
            // included) whose stored range gives the least error on this patch's
            // coefficients; 0 rebuilds zeros, so a coded patch never costs more
            // error than dropping it.
            double best_e = INFINITY;
            float best = 1.f;
            for (float f : kRangeShrink) {
                float l = lo * f, h = hi * f;
                store_range(cfg_, l, h, side);
                kn_.quantize(vals, n, bits, l, h, q);
                kn_.dequantize(q, n, bits, l, h, vhat);
                const double e = err(vals, vhat, n);
                if (e < best_e) best_e = e, best = f;
            }
            lo *= best;
            hi *= best;
        }
        store_range(cfg_, lo, hi, side);
    }

    void quantize(const float* vals, size_t n, int bits, const uint8_t* side, uint8_t* q) const override {
        float l, h;
        load_range(cfg_, side, l, h);
        kn_.quantize(vals, n, bits, l, h, q);
    }

    void dequantize(const uint8_t* q, size_t n, int bits, const uint8_t* side, float* out) const override {
        float l, h;
        load_range(cfg_, side, l, h);
        kn_.dequantize(q, n, bits, l, h, out);
    }

    bool side_ok(const uint8_t* side) const override { return minmax_side_ok(cfg_.meta_f32, side); }

private:
    double err(const float* a, const float* b, size_t n) const {
        if (!cfg_.weights) return kn_.sq_diff_sum(a, b, n);
        double e = 0;
        for (size_t i = 0; i < n; ++i) {
            const double d = (static_cast<double>(a[i]) - b[i]) * cfg_.weights[i];
            e += d * d;
        }
        return e;
    }

    QuantizerConfig cfg_;
    const Kernels& kn_;
};

}  // namespace

bool minmax_side_ok(bool meta_f32, const uint8_t* side) {
    QuantizerConfig raw;
    raw.meta_f32 = meta_f32;
    raw.scale = 1.f;  // finiteness of the stored values, whatever the scale
    float l, h;
    load_range(raw, side, l, h);
    return std::isfinite(l) && std::isfinite(h);
}

std::unique_ptr<Quantizer> make_minmax_quantizer(const QuantizerConfig& cfg) {
    return std::make_unique<MinMaxQuantizer>(cfg);
}

void minmax_fit_ref(const QuantizerConfig& cfg, const float* vals, size_t n, int bits, uint8_t* side) {
    float lo = vals[0], hi = vals[0];
    for (size_t i = 1; i < n; ++i) lo = std::min(lo, vals[i]), hi = std::max(hi, vals[i]);
    if (cfg.range == RangeRule::MSE) {
        std::vector<uint8_t> q(n);
        std::vector<float> vhat(n);
        double best_e = INFINITY;
        float best = 1.f;
        for (float f : kRangeShrink) {
            float l = lo * f, h = hi * f;
            store_range(cfg, l, h, side);
            quantize_ref(vals, n, bits, l, h, q.data());
            dequantize_ref(q.data(), n, bits, l, h, vhat.data());
            double e = 0;
            for (size_t i = 0; i < n; ++i) {
                const double d = (static_cast<double>(vals[i]) - vhat[i]) * (cfg.weights ? cfg.weights[i] : 1.0);
                e += d * d;
            }
            if (e < best_e) best_e = e, best = f;
        }
        lo *= best;
        hi *= best;
    }
    store_range(cfg, lo, hi, side);
}

const std::vector<QuantizerEntry>& quantizer_table() {
    static const std::vector<QuantizerEntry> table = {
        {"minmax", &make_minmax_quantizer, &minmax_side_bytes},
    };
    return table;
}

const QuantizerEntry* find_quantizer(std::string_view name) {
    for (const QuantizerEntry& e : quantizer_table())
        if (e.name == name) return &e;
    return nullptr;
}

}  // namespace deltacodec
