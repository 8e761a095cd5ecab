// The AVX2/F16C kernels against the baseline kernels: bit-identical results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "codec/kernels.hpp"

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
    for (int p : {8, 32, 256}) {
        std::vector<float> c(p), work1 = random_floats(p * p, 11 + p, false), work2 = work1, s(p * p);
        for (int n = p, off = 0; n >= 2; off += n / 2, n /= 2)
            for (int i = 0; i < n / 2; ++i) c[off + i] = 0.5f / std::cos(3.14159265f * (2 * i + 1) / (2.f * n));
        g.dct_rows(work1.data(), p, p, s.data(), c.data());
        fast->dct_rows(work2.data(), p, p, s.data(), c.data());
        EXPECT_TRUE(same_bits(work1, work2)) << p;
        g.dct_rows_t(work1.data(), p, p, s.data(), c.data());
        fast->dct_rows_t(work2.data(), p, p, s.data(), c.data());
        EXPECT_TRUE(same_bits(work1, work2)) << p;
        g.transpose(work1.data(), s.data(), p);
        fast->transpose(work1.data(), work2.data(), p);
        std::vector<float> s2(s.begin(), s.end());
        EXPECT_TRUE(same_bits(s2, work2)) << p;
    }
    const auto c = random_floats(4099, 9, false);
    {
        const auto d = random_floats(c.size(), 10, false);
        EXPECT_EQ(g.sum_sq(c.data(), c.size()), fast->sum_sq(c.data(), c.size()));
        EXPECT_EQ(g.sq_diff_sum(c.data(), d.data(), c.size()), fast->sq_diff_sum(c.data(), d.data(), c.size()));
        EXPECT_NEAR(
            g.sum_sq(c.data(), c.size()),
            [&] {
                double s = 0;
                for (float v : c) s += double(v) * v;
                return s;
            }(),
            1e-3);
        float lo1, hi1, lo2, hi2;
        g.minmax(c.data(), c.size(), &lo1, &hi1);
        fast->minmax(c.data(), c.size(), &lo2, &hi2);
        EXPECT_EQ(lo1, *std::min_element(c.begin(), c.end()));
        EXPECT_EQ(hi1, *std::max_element(c.begin(), c.end()));
        EXPECT_EQ(lo1, lo2);
        EXPECT_EQ(hi1, hi2);
        auto bad = c;
        EXPECT_TRUE(g.all_finite(bad.data(), bad.size()) && fast->all_finite(bad.data(), bad.size()));
        bad[4000] = NAN;
        EXPECT_FALSE(g.all_finite(bad.data(), bad.size()) || fast->all_finite(bad.data(), bad.size()));
        bad[4000] = -INFINITY;
        EXPECT_FALSE(g.all_finite(bad.data(), bad.size()) || fast->all_finite(bad.data(), bad.size()));
    }
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

// The fused rebuild kernels (base + Δ̂ → base's dtype) give the same bits as the
// three steps they replace, in both builds: every f16/bf16 base value (NaN and
// inf included), finite deltas of every magnitude (sums that overflow, subnormals).
TEST(Kernels, FusedAddMatchesThreeSteps) {
    std::vector<const Kernels*> ks = {&generic_kernels()};
    if (avx2_kernels()) ks.push_back(avx2_kernels());
    std::vector<uint16_t> base(65536 + 5);
    for (size_t i = 0; i < base.size(); ++i) base[i] = static_cast<uint16_t>(i * 40503u);
    for (bool raw : {false, true}) {
        std::vector<float> d = random_floats(base.size(), raw ? 21 : 22, raw);
        if (!raw)
            for (size_t i = 0; i < d.size(); i += 7) d[i] *= 1e4f;  // pushes some sums past f16's range
        // Deltas are finite (encoders decline non-finite ones, decoders produce none);
        // with NaN on both sides the payload kept depends on the compiler's operand order.
        for (float& x : d)
            if (!std::isfinite(x)) x = std::ldexp(1.0f, std::ilogb(x) > 0 ? 100 : -100);
        const Kernels& g = generic_kernels();
        for (const Kernels* k : ks) {
            std::vector<float> t(base.size());
            std::vector<uint16_t> want(base.size()), got(base.size());
            g.f16_to_f32(base.data(), t.data(), t.size());
            g.add(t.data(), d.data(), t.data(), t.size());
            g.f32_to_f16(t.data(), want.data(), t.size());
            k->f16_add(base.data(), d.data(), got.data(), got.size());
            EXPECT_TRUE(same_bits(want, got)) << k->name << " f16 raw=" << raw;
            g.bf16_to_f32(base.data(), t.data(), t.size());
            g.add(t.data(), d.data(), t.data(), t.size());
            g.f32_to_bf16(t.data(), want.data(), t.size());
            k->bf16_add(base.data(), d.data(), got.data(), got.size());
            EXPECT_TRUE(same_bits(want, got)) << k->name << " bf16 raw=" << raw;
        }
    }
}
