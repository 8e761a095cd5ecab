// Quantizer range and rounding; bit packing for every width and odd lengths.
#include <gtest/gtest.h>

#include <random>

#include "codec/quantize.hpp"

using namespace deltacodec;

TEST(Quantize, EndpointsAndRounding) {
    const float c[] = {-1.f, 1.f, 0.f, -0.34f, 0.32f, 5.f, -5.f};
    uint8_t q[7];
    quantize_ref(c, 7, 2, -1.f, 1.f, q);
    EXPECT_EQ(q[0], 0);
    EXPECT_EQ(q[1], 3);
    EXPECT_EQ(q[2], 2);  // (0+1)/2*3 = 1.5 rounds half up
    EXPECT_EQ(q[3], 1);  // 0.99 -> 1
    EXPECT_EQ(q[4], 2);  // 1.98 -> 2
    EXPECT_EQ(q[5], 3);  // clamped
    EXPECT_EQ(q[6], 0);
    float d[7];
    dequantize_ref(q, 7, 2, -1.f, 1.f, d);
    EXPECT_FLOAT_EQ(d[0], -1.f);
    EXPECT_FLOAT_EQ(d[1], 1.f);
    EXPECT_NEAR(d[3], -1.f / 3, 1e-6);
}

TEST(Quantize, DegenerateRangeGivesZerosAndLo) {
    const float c[] = {0.25f, 0.25f};
    uint8_t q[2] = {9, 9};
    quantize_ref(c, 2, 4, 0.25f, 0.25f, q);
    EXPECT_EQ(q[0], 0);
    float d[2];
    dequantize_ref(q, 2, 4, 0.25f, 0.25f, d);
    EXPECT_FLOAT_EQ(d[0], 0.25f);
}

TEST(Quantize, ErrorBoundedByHalfStepAndFastMatchesReference) {
    std::mt19937 rng(3);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> c(1001);
    for (float& v : c) v = nd(rng);
    const float lo = *std::min_element(c.begin(), c.end()), hi = *std::max_element(c.begin(), c.end());
    for (int b = 1; b <= 8; ++b) {
        std::vector<uint8_t> q1(c.size()), q2(c.size());
        std::vector<float> d1(c.size()), d2(c.size());
        quantize_ref(c.data(), c.size(), b, lo, hi, q1.data());
        quantize(c.data(), c.size(), b, lo, hi, q2.data());
        EXPECT_EQ(q1, q2) << b;
        dequantize_ref(q1.data(), c.size(), b, lo, hi, d1.data());
        dequantize(q1.data(), c.size(), b, lo, hi, d2.data());
        EXPECT_EQ(d1, d2) << b;
        const float half = (hi - lo) / ((1 << b) - 1) / 2;
        for (size_t i = 0; i < c.size(); ++i) {
            EXPECT_LT(q1[i], 1 << b);
            EXPECT_LE(std::fabs(d1[i] - c[i]), half * 1.0001f) << "b=" << b << " i=" << i;
        }
    }
}

class PackWidths : public ::testing::TestWithParam<int> {};

TEST_P(PackWidths, RoundTripAndMatchesReference) {
    const int bits = GetParam();
    std::mt19937 rng(bits);
    for (size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 1000u, 1001u}) {
        std::vector<uint8_t> codes(n);
        for (auto& c : codes) c = static_cast<uint8_t>(rng() & ((1u << bits) - 1));
        std::vector<uint8_t> ref(packed_size(n, bits) + 1, 0xAB), fast(packed_size(n, bits) + 1, 0xAB);
        pack_bits_ref(codes.data(), n, bits, ref.data());
        pack_bits(codes.data(), n, bits, fast.data());
        EXPECT_EQ(ref, fast) << "bits=" << bits << " n=" << n;  // also: the guard byte is untouched
        EXPECT_EQ(fast.back(), 0xAB);
        std::vector<uint8_t> back(n), back_ref(n);
        unpack_bits(fast.data(), n, bits, back.data());
        unpack_bits_ref(ref.data(), n, bits, back_ref.data());
        EXPECT_EQ(back, codes);
        EXPECT_EQ(back_ref, codes);
    }
}

INSTANTIATE_TEST_SUITE_P(Bits, PackWidths, ::testing::Range(1, 9));

TEST(Pack, LsbFirstLayoutAndSize) {
    const uint8_t codes[] = {1, 0, 1, 1};  // 1 bit each: 0b1101
    uint8_t out[1];
    pack_bits(codes, 4, 1, out);
    EXPECT_EQ(out[0], 0x0D);
    const uint8_t c2[] = {3, 1};  // 2 bits: 0b0111
    pack_bits(c2, 2, 2, out);
    EXPECT_EQ(out[0], 0x07);
    EXPECT_EQ(packed_size(10, 3), 4u);  // a 3-bit code costs 3 bits
    EXPECT_EQ(packed_size(16, 2), 4u);
}
