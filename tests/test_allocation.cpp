// Allocation specs and the per-strategy patch counts.
#include <gtest/gtest.h>

#include "codec/allocation.hpp"
#include "deltacodec/error.hpp"

using namespace deltacodec;

TEST(BitSpec, ParsesTheSeedStrategies) {
    const BitSpec a = BitSpec::parse("2:0.5,0:0.5");
    ASSERT_EQ(a.tiers.size(), 2u);
    EXPECT_EQ(a.tiers[0].bits, 2);
    EXPECT_DOUBLE_EQ(a.mean_bits(), 1.0);
    const BitSpec b = BitSpec::parse("0:0.33,2:0.34,1:0.33");  // order does not matter
    EXPECT_EQ(b.tiers[0].bits, 2);
    EXPECT_EQ(b.tiers[2].bits, 0);
    EXPECT_EQ(BitSpec::parse(b.str()).str(), b.str());
    EXPECT_NO_THROW(BitSpec::parse("4:0.34,2:0.33,0:0.33"));
    EXPECT_NO_THROW(BitSpec::parse("8:1"));
}

TEST(BitSpec, RejectsBadSpecs) {
    for (const char* s : {"", "2:0.5", "2:0.5,0:0.6", "9:1", "-1:1", "2:0.5,2:0.5", "x:1", "2:abc", "2:1,", "2-1",
                          "2:1.5,0:-0.5", "2:nan"})
        EXPECT_THROW(BitSpec::parse(s), Error) << s;
}

TEST(Allocation, CountsPerStrategy) {
    const BitSpec s3 = BitSpec::parse("2:0.34,1:0.33,0:0.33");
    EXPECT_EQ(tier_counts(s3, 100), (std::vector<uint64_t>{34, 33, 33}));
    EXPECT_EQ(tier_counts(s3, 3), (std::vector<uint64_t>{1, 1, 1}));
    EXPECT_EQ(tier_counts(BitSpec::parse("4:0.5,0:0.5"), 7), (std::vector<uint64_t>{4, 3}));
    for (uint64_t n : {0ull, 1ull, 2ull, 5ull, 97ull, 4096ull}) {
        uint64_t sum = 0;
        for (uint64_t c : tier_counts(s3, n)) sum += c;
        EXPECT_EQ(sum, n);
    }
}

TEST(Allocation, MostImportantPatchesGetMostBits) {
    const std::vector<float> imp = {0.1f, 5.f, 3.f, 0.2f, 4.f, 0.f};
    const auto w = allocate_bits(imp, BitSpec::parse("4:0.34,2:0.33,0:0.33"));
    EXPECT_EQ(w, (std::vector<uint8_t>{0, 4, 2, 2, 4, 0}));
    // Ties broken by index: deterministic.
    const auto t = allocate_bits({1.f, 1.f, 1.f, 1.f}, BitSpec::parse("2:0.5,0:0.5"));
    EXPECT_EQ(t, (std::vector<uint8_t>{2, 2, 0, 0}));
}
