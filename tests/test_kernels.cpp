// The AVX2/F16C kernels against the baseline kernels: bit-identical results.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "kernels.hpp"

using namespace deltacodec;

namespace {
std::vector<float> random_floats(size_t n, unsigned seed, bool raw_bits) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> v(n);
    for (float& x : v) {
        if (raw_bits) {
            uint32_t u = rng();
            std::memcpy(&x, &u, 4);
        } else {
            x = nd(rng);
        }
    }
    return v;
}
template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
}  // namespace

TEST(Kernels, Avx2MatchesGenericBitForBit) {
    const Kernels* fast = avx2_kernels();
    if (!fast) GTEST_SKIP() << "CPU lacks AVX2/F16C";
    const Kernels& g = generic_kernels();

    // f16 <-> f32: every f16 value, and arbitrary f32 bit patterns (subnormals, NaN, inf).
    std::vector<uint16_t> all(65536);
    for (uint32_t i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
    std::vector<float> a(all.size()), b(all.size());
    g.f16_to_f32(all.data(), a.data(), all.size());
    fast->f16_to_f32(all.data(), b.data(), all.size());
    EXPECT_TRUE(same_bits(a, b));
    for (bool raw : {false, true}) {
        const auto x = random_floats(100003, raw ? 1 : 2, raw);
        std::vector<uint16_t> h1(x.size()), h2(x.size());
        g.f32_to_f16(x.data(), h1.data(), x.size());
        fast->f32_to_f16(x.data(), h2.data(), x.size());
        EXPECT_TRUE(same_bits(h1, h2)) << raw;
        g.f32_to_bf16(x.data(), h1.data(), x.size());
        fast->f32_to_bf16(x.data(), h2.data(), x.size());
        EXPECT_TRUE(same_bits(h1, h2)) << raw;
        std::vector<float> f1(x.size()), f2(x.size());
        g.bf16_to_f32(h1.data(), f1.data(), x.size());
        fast->bf16_to_f32(h1.data(), f2.data(), x.size());
        EXPECT_TRUE(same_bits(f1, f2));
    }
    // Transforms and quantizers.
    for (int p : {8, 16, 32, 64}) {
        const auto m1 = random_floats(p * p, 3 + p, false), m2 = random_floats(p * p, 4 + p, false);
        std::vector<float> o1(p * p), o2(p * p), t(p * p);
        g.matmul(m1.data(), m2.data(), o1.data(), p);
        fast->matmul(m1.data(), m2.data(), o2.data(), p);
        EXPECT_TRUE(same_bits(o1, o2)) << p;
        g.haar_forward(m1.data(), o1.data(), t.data(), p);
        fast->haar_forward(m1.data(), o2.data(), t.data(), p);
        EXPECT_TRUE(same_bits(o1, o2)) << p;
        g.haar_inverse(m1.data(), o1.data(), t.data(), p);
        fast->haar_inverse(m1.data(), o2.data(), t.data(), p);
        EXPECT_TRUE(same_bits(o1, o2)) << p;
    }
    const auto c = random_floats(4099, 9, false);
    for (int bits = 1; bits <= 8; ++bits) {
        std::vector<uint8_t> q1(c.size()), q2(c.size());
        g.quantize(c.data(), c.size(), bits, -2.5f, 2.25f, q1.data());
        fast->quantize(c.data(), c.size(), bits, -2.5f, 2.25f, q2.data());
        EXPECT_EQ(q1, q2);
        std::vector<float> d1(c.size()), d2(c.size());
        g.dequantize(q1.data(), c.size(), bits, -2.5f, 2.25f, d1.data());
        fast->dequantize(q1.data(), c.size(), bits, -2.5f, 2.25f, d2.data());
        EXPECT_TRUE(same_bits(d1, d2));
    }
}
