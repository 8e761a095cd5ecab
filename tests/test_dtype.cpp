#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "io/dtype.hpp"

using namespace deltacodec;

TEST(DType, NamesRoundTrip) {
    for (int i = 0; i < kNumDTypes; ++i) {
        const auto t = static_cast<DType>(i);
        EXPECT_EQ(dtype_from_name(dtype_name(t)), t);
    }
    EXPECT_FALSE(dtype_from_name("F128"));
    EXPECT_FALSE(dtype_from_code(kNumDTypes));
}

TEST(DType, F16AllValuesRoundTrip) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = f16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        EXPECT_EQ(f32_to_f16(f), h) << h;
    }
}

TEST(DType, F16RoundsToNearestEven) {
    EXPECT_EQ(f32_to_f16(1.0f), 0x3c00);
    // 1 + 2^-11 is halfway between 1 and 1+2^-10: ties to even (1.0).
    EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
    EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
    EXPECT_EQ(f32_to_f16(65504.f), 0x7bff);
    EXPECT_EQ(f32_to_f16(65520.f), 0x7c00);
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
    EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even: zero
    EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
    EXPECT_EQ(f32_to_f16(-2.0f), 0xc000);
}

TEST(DType, F16DirectedRounding) {
    for (float v : {0.1f, -0.1f, 1e-6f, -1e-6f, 0.3333f, -0.7777f, 0.f, 1e-9f, -1e-9f}) {
        EXPECT_LE(f16_to_f32(f32_to_f16_down(v)), v);
        EXPECT_GE(f16_to_f32(f32_to_f16_up(v)), v);
        EXPECT_LE(f16_to_f32(f32_to_f16_up(v)) - f16_to_f32(f32_to_f16_down(v)), std::fabs(v) * 1e-3f + 1e-7f);
    }
}

TEST(DType, BF16RoundTripAndRounding) {
    for (uint32_t h = 0; h < 65536; h += 7) {
        const float f = bf16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        EXPECT_EQ(f32_to_bf16(f), h);
    }
    EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);  // tie to even
    EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}
