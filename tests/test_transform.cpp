// Transforms against their plain references; orthonormality; band masks; JPEG table.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "codec/transform.hpp"
#include "testutil.hpp"

using namespace deltacodec;

using testutil::energy;
using testutil::max_abs_diff;
using testutil::random_patch;

class TransformSizes : public ::testing::TestWithParam<int> {};

TEST_P(TransformSizes, DctMatchesReferenceAndInverts) {
    const int p = GetParam();
    const auto x = random_patch(p, 1 + p);
    std::vector<float> ref(x.size()), fast(x.size()), back(x.size()), scratch(x.size());
    dct2_reference(x.data(), ref.data(), p);
    auto t = make_dct(p);
    t->forward(x.data(), fast.data(), scratch.data());
    EXPECT_LT(max_abs_diff(ref, fast), 1e-4);
    t->inverse(fast.data(), back.data(), scratch.data());
    EXPECT_LT(max_abs_diff(x, back), 1e-4);
    std::vector<float> iref(x.size());
    idct2_reference(ref.data(), iref.data(), p);
    EXPECT_LT(max_abs_diff(x, iref), 1e-4);
    EXPECT_NEAR(energy(fast), energy(x), 1e-4 * energy(x));  // orthonormal: Parseval
}

TEST_P(TransformSizes, HaarMatchesReferenceAndInverts) {
    const int p = GetParam();
    const auto x = random_patch(p, 7 + p);
    std::vector<float> ref(x.size()), fast(x.size()), back(x.size()), scratch(x.size());
    haar2_reference(x.data(), ref.data(), p);
    auto t = make_haar(p);
    t->forward(x.data(), fast.data(), scratch.data());
    EXPECT_LT(max_abs_diff(ref, fast), 1e-5);
    t->inverse(fast.data(), back.data(), scratch.data());
    EXPECT_LT(max_abs_diff(x, back), 1e-5);
    std::vector<float> iref(x.size());
    ihaar2_reference(ref.data(), iref.data(), p);
    EXPECT_LT(max_abs_diff(x, iref), 1e-5);
    EXPECT_NEAR(energy(fast), energy(x), 1e-5 * energy(x));
}

INSTANTIATE_TEST_SUITE_P(Sizes, TransformSizes, ::testing::Values(8, 16, 24, 32, 40, 64, 128));

TEST(Transform, DctOfConstantPatchIsOnlyDc) {
    const int p = 16;
    std::vector<float> x(p * p, 0.5f), c(p * p), s(p * p);
    make_dct(p)->forward(x.data(), c.data(), s.data());
    EXPECT_NEAR(c[0], 0.5f * p, 1e-4);  // DC = mean · p for the orthonormal DCT
    for (int i = 1; i < p * p; ++i) EXPECT_NEAR(c[i], 0.f, 1e-5);
}

TEST(Transform, HaarBandLayout) {
    // A patch constant along rows but alternating along columns has energy only
    // in the high-column (right) half: the LH quadrant of the top half.
    const int p = 8;
    std::vector<float> x(p * p), c(p * p), s(p * p);
    for (int i = 0; i < p; ++i)
        for (int j = 0; j < p; ++j) x[i * p + j] = (j % 2) ? -1.f : 1.f;
    make_haar(p)->forward(x.data(), c.data(), s.data());
    for (int i = 0; i < p; ++i)
        for (int j = 0; j < p; ++j) {
            const bool top_right = i < p / 2 && j >= p / 2;
            if (!top_right) {
                EXPECT_NEAR(c[i * p + j], 0.f, 1e-6) << i << "," << j;
            }
        }
}

TEST(Transform, KeptMasks) {
    const int p = 16;
    auto count = [](const std::vector<uint8_t>& m) { return std::count(m.begin(), m.end(), 1); };
    EXPECT_EQ(count(kept_mask(TransformId::DCT, Bands::ALL, p, 0)), p * p);
    EXPECT_EQ(count(kept_mask(TransformId::HAAR, Bands::ALL, p, 1)), p * p);
    EXPECT_EQ(count(kept_mask(TransformId::HAAR, Bands::LL_LH_HL, p, 1)), 3 * p * p / 4);
    EXPECT_EQ(count(kept_mask(TransformId::HAAR, Bands::LL_ONLY, p, 1)), p * p / 4);
    const auto ll = kept_mask(TransformId::HAAR, Bands::LL_ONLY, p, 1);
    EXPECT_EQ(ll[0], 1);
    EXPECT_EQ(ll[p / 2], 0);        // LH
    EXPECT_EQ(ll[(p / 2) * p], 0);  // HL
    const auto three = kept_mask(TransformId::HAAR, Bands::LL_LH_HL, p, 1);
    EXPECT_EQ(three[(p - 1) * p + p - 1], 0);  // HH dropped
    EXPECT_EQ(three[p - 1], 1);
}

TEST(Transform, JpegTable) {
    const auto t8 = jpeg_table(8);
    EXPECT_FLOAT_EQ(t8[0], 1.f);
    EXPECT_FLOAT_EQ(t8[1], 11.f / 16.f);  // the standard table at p = 8, divided by 16
    EXPECT_FLOAT_EQ(t8[63], 99.f / 16.f);
    const auto t32 = jpeg_table(32);
    EXPECT_EQ(t32.size(), 32u * 32u);
    EXPECT_FLOAT_EQ(t32[0], 1.f);
    EXPECT_GT(t32[31 * 32 + 31], 5.f);  // high frequencies weighted down
}

TEST(Transform, Registry) {
    ASSERT_NE(find_transform("dct"), nullptr);
    ASSERT_NE(find_transform("dwt"), nullptr);
    EXPECT_EQ(find_transform("dwt")->id, TransformId::HAAR);
    EXPECT_TRUE(find_transform("dwt")->has_bands);
    EXPECT_EQ(find_transform("nope"), nullptr);
    Bands b;
    EXPECT_TRUE(bands_from_name("ll_only", b));
    EXPECT_EQ(b, Bands::LL_ONLY);
    EXPECT_FALSE(bands_from_name("hh", b));
}
