// The patch coder's stages as interfaces: the transform table's band layouts and
// gains, the quantizer table ("minmax" against its plain reference), and the
// symbol coder table ("bitpack": runs read back in order, short streams refused).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "codec/codec.hpp"
#include "codec/quantize.hpp"
#include "codec/quantizer.hpp"
#include "codec/symbol_coder.hpp"
#include "codec/transform.hpp"
#include "deltacodec/error.hpp"

using namespace deltacodec;

// ---- Transform: band layout, selections, gains ------------------------------------

namespace {
// The level counts to try for a row: its fixed count, or 1 and 2 for a multi-level wavelet.
std::vector<int> some_levels(const TransformEntry& e) {
    if (e.max_levels == 0) return {e.levels};
    return {1, 2};
}
}  // namespace

TEST(StageTransform, BandsAreDisjointAndCoverTheBlock) {
    for (const TransformEntry& e : transform_table())
        for (int p : {8, 16, 24, 64, 256})
            for (int levels : some_levels(e)) {
                std::vector<int> owner(static_cast<size_t>(p) * p, 0);
                for (const Band& b : e.band_layout(p, levels)) {
                    EXPECT_GT(b.gain, 0.0) << e.name;
                    ASSERT_TRUE(b.row0 >= 0 && b.col0 >= 0 && b.row0 + b.rows <= p && b.col0 + b.cols <= p) << e.name;
                    for (int i = b.row0; i < b.row0 + b.rows; ++i)
                        for (int j = b.col0; j < b.col0 + b.cols; ++j) ++owner[static_cast<size_t>(i) * p + j];
                }
                EXPECT_TRUE(std::all_of(owner.begin(), owner.end(), [](int o) { return o == 1; }))
                    << e.name << " p=" << p;
            }
}

TEST(StageTransform, SelectionsDriveKeptCoefficients) {
    for (const TransformEntry& e : transform_table()) {
        EXPECT_NE(e.selections[0], 0u) << e.name << ": every transform offers ALL";
        EXPECT_EQ(e.has_bands, e.selections[1] != 0 || e.selections[2] != 0) << e.name;
        for (Bands b : {Bands::ALL, Bands::LL_LH_HL, Bands::LL_ONLY})
            for (int p : {8, 32, 64})
                for (int levels : some_levels(e)) {
                    const auto m = kept_mask(e.id, b, p, levels);
                    const auto kept = static_cast<uint64_t>(std::count(m.begin(), m.end(), 1));
                    EXPECT_EQ(kept_count(e.id, b, p, levels), kept) << e.name;
                    CodedTensor ct;
                    ct.patch = p;
                    ct.transform = e.id;
                    ct.levels = levels;
                    ct.bands = b;
                    EXPECT_EQ(ct.kept_per_patch(), kept);
                    if (!bands_offered(e.id, b)) {
                        EXPECT_EQ(kept, static_cast<uint64_t>(p) * p) << e.name;
                    }
                }
    }
    EXPECT_FALSE(bands_offered(TransformId::DCT, Bands::LL_ONLY));
    EXPECT_TRUE(bands_offered(TransformId::HAAR, Bands::LL_ONLY));
    EXPECT_EQ(kept_count(TransformId::HAAR, Bands::LL_LH_HL, 16, 1), 3u * 16 * 16 / 4);
}

TEST(StageTransform, DeclaredGainsMatchTheSynthesis) {
    // A unit coefficient in band b rebuilds to a patch of norm gain(b): the
    // declared gains are what the inverse transform really does.
    for (const TransformEntry& e : transform_table())
        for (int levels : some_levels(e)) {
            const int p = 16;
            const auto t = e.make(p, levels);
            std::vector<float> c(p * p), x(p * p), s(p * p);
            for (const Band& b : e.band_layout(p, levels)) {
                std::fill(c.begin(), c.end(), 0.f);
                c[static_cast<size_t>(b.row0 + b.rows / 2) * p + b.col0 + b.cols / 2] = 1.f;
                t->inverse(c.data(), x.data(), s.data());
                double n2 = 0;
                for (float v : x) n2 += static_cast<double>(v) * v;
                // An interior position of the band; cdf97's gains vary near the edges (its
                // per-position gains: tests/test_wavelet.cpp), its band gain is their RMS.
                EXPECT_NEAR(std::sqrt(n2), b.gain, e.position_gains ? 0.05 : 1e-5) << e.name << " band " << b.name;
            }
            EXPECT_EQ(gain_map(e.id, p, levels).size(), static_cast<size_t>(p) * p);
            EXPECT_GT(e.analysis_bound, 0.f);
        }
}

TEST(StageTransform, GainWeightedErrorIsThePatchErrorOfAScaledTransform) {
    // A non-orthonormal transform: Haar with band b's coefficients divided by
    // s_b, so band b's synthesis gain is s_b. The gain-weighted coefficient
    // error (exact for a basis whose functions are orthogonal, as here) must equal the
    // error of the rebuilt patch; the unweighted one (Parseval) would not.
    const int p = 16, h = p / 2;
    const double s[4] = {2.0, 0.5, 1.5, 3.0};  // ll, lh, hl, hh
    auto band = [&](int i) { return (i / p >= h ? 2 : 0) + (i % p >= h ? 1 : 0); };
    const auto haar = make_haar(p);
    std::mt19937 rng(11);
    std::normal_distribution<float> nd(0.f, 1.f);
    std::vector<float> x(p * p), c(p * p), chat(p * p), y(p * p), xr(p * p), t(p * p);
    for (float& v : x) v = nd(rng);
    haar->forward(x.data(), y.data(), t.data());
    std::vector<double> g2(p * p);
    for (int i = 0; i < p * p; ++i) {
        c[i] = static_cast<float>(y[i] / s[band(i)]);
        g2[i] = s[band(i)] * s[band(i)];
        // Rebuilt: quantization-like noise, and the HH band dropped.
        chat[i] = band(i) == 3 ? 0.f : c[i] + 0.05f * nd(rng);
    }
    for (int i = 0; i < p * p; ++i) y[i] = static_cast<float>(chat[i] * s[band(i)]);
    haar->inverse(y.data(), xr.data(), t.data());
    double truth = 0;
    for (int i = 0; i < p * p; ++i) truth += (static_cast<double>(xr[i]) - x[i]) * (xr[i] - x[i]);
    const double est = gain_weighted_error(c.data(), chat.data(), g2.data(), c.size());
    EXPECT_NEAR(est, truth, 1e-4 * truth);
    const std::vector<double> ones(p * p, 1.0);
    EXPECT_GT(std::abs(gain_weighted_error(c.data(), chat.data(), ones.data(), c.size()) - truth), 0.1 * truth);
}

// ---- Quantizer: "minmax" against its plain reference -------------------------------

namespace {
std::vector<float> coefficients(unsigned seed, size_t n, float sd) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, sd);
    std::vector<float> v(n);
    for (float& x : v) x = nd(rng);
    return v;
}
}  // namespace

TEST(StageQuantizer, MinMaxMatchesReference) {
    ASSERT_NE(find_quantizer("minmax"), nullptr);
    EXPECT_EQ(find_quantizer("nope"), nullptr);
    const QuantizerEntry& qe = *find_quantizer("minmax");
    const size_t n = 48;  // 3·16: the kept count of a p=8 Haar patch with three bands
    std::vector<double> weights(n);
    for (size_t i = 0; i < n; ++i) weights[i] = 1.0 + 0.25 * static_cast<double>(i % 7);
    for (bool f32 : {false, true})
        for (RangeRule rule : {RangeRule::MINMAX, RangeRule::MSE})
            for (bool weighted : {false, true})
                for (int bits = 1; bits <= 8; ++bits)
                    for (unsigned seed = 0; seed < 6; ++seed) {
                        const auto v = coefficients(seed * 31 + bits, n, 0.01f * (1 + seed));
                        QuantizerConfig cfg;
                        cfg.meta_f32 = f32;
                        cfg.scale = 0.25f;
                        cfg.range = rule;
                        cfg.weights = weighted ? weights.data() : nullptr;
                        const auto q = qe.make(cfg);
                        ASSERT_EQ(q->side_bytes(), qe.side_bytes(cfg));
                        ASSERT_EQ(q->side_bytes(), f32 ? 8u : 4u);
                        uint8_t side[8] = {}, side_ref[8] = {};
                        std::vector<float> sf(n);
                        std::vector<uint8_t> sq(n), sym(n), sym_ref(n);
                        q->fit(v.data(), n, bits, side, sf.data(), sq.data());
                        minmax_fit_ref(cfg, v.data(), n, bits, side_ref);
                        ASSERT_EQ(std::memcmp(side, side_ref, q->side_bytes()), 0)
                            << "f32=" << f32 << " mse=" << (rule == RangeRule::MSE) << " bits=" << bits;
                        EXPECT_TRUE(q->side_ok(side));
                        // The stored range, as the reference reads it.
                        float lo, hi;
                        if (f32) {
                            std::memcpy(&lo, side, 4);
                            std::memcpy(&hi, side + 4, 4);
                        } else {
                            lo = f16_to_f32(static_cast<uint16_t>(side[0] | (side[1] << 8))) * cfg.scale;
                            hi = f16_to_f32(static_cast<uint16_t>(side[2] | (side[3] << 8))) * cfg.scale;
                        }
                        if (rule == RangeRule::MINMAX) {  // rounded outward: the range holds every value
                            EXPECT_LE(lo, *std::min_element(v.begin(), v.end()));
                            EXPECT_GE(hi, *std::max_element(v.begin(), v.end()));
                        }
                        q->quantize(v.data(), n, bits, side, sym.data());
                        quantize_ref(v.data(), n, bits, lo, hi, sym_ref.data());
                        ASSERT_EQ(sym, sym_ref);
                        std::vector<float> back(n), back_ref(n);
                        q->dequantize(sym.data(), n, bits, side, back.data());
                        dequantize_ref(sym.data(), n, bits, lo, hi, back_ref.data());
                        ASSERT_EQ(std::memcmp(back.data(), back_ref.data(), n * sizeof(float)), 0);
                        // The encoder's one-call form gives the same side, symbols and rebuild.
                        uint8_t side2[8] = {};
                        std::vector<uint8_t> sym2(n);
                        std::vector<float> back2(n);
                        q->code(v.data(), n, bits, side2, sym2.data(), back2.data());
                        ASSERT_EQ(std::memcmp(side2, side, q->side_bytes()), 0);
                        ASSERT_EQ(sym2, sym);
                        ASSERT_EQ(std::memcmp(back2.data(), back.data(), n * sizeof(float)), 0);
                    }
}

TEST(StageQuantizer, MseRangeNeverWorseThanMinMax) {
    // The weighted error the MSE rule minimises is at most that of the plain range.
    const size_t n = 64;
    const auto v = coefficients(7, n, 1.f);
    for (int bits = 1; bits <= 4; ++bits) {
        double e[2];
        for (int r = 0; r < 2; ++r) {
            QuantizerConfig cfg;
            cfg.meta_f32 = true;
            cfg.range = r ? RangeRule::MSE : RangeRule::MINMAX;
            const auto q = make_minmax_quantizer(cfg);
            uint8_t side[8];
            std::vector<float> sf(n), back(n);
            std::vector<uint8_t> sq(n), sym(n);
            q->fit(v.data(), n, bits, side, sf.data(), sq.data());
            q->quantize(v.data(), n, bits, side, sym.data());
            q->dequantize(sym.data(), n, bits, side, back.data());
            e[r] = 0;
            for (size_t i = 0; i < n; ++i) e[r] += (static_cast<double>(v[i]) - back[i]) * (v[i] - back[i]);
        }
        EXPECT_LE(e[1], e[0]) << bits;
    }
}

TEST(StageQuantizer, SideInformationChecked) {
    const uint8_t f16_inf[4] = {0x00, 0xb8, 0x00, 0x7c}, f16_ok[4] = {0x00, 0xb8, 0x00, 0x38};
    EXPECT_FALSE(minmax_side_ok(false, f16_inf));
    EXPECT_TRUE(minmax_side_ok(false, f16_ok));
    float nan_lo[2] = {std::nanf(""), 1.f};
    uint8_t f32_nan[8];
    std::memcpy(f32_nan, nan_lo, 8);
    EXPECT_FALSE(minmax_side_ok(true, f32_nan));
}

// ---- SymbolCoder: "bitpack" ---------------------------------------------------------

TEST(StageSymbolCoder, BitpackRunsRoundTripInOrder) {
    const SymbolCoderEntry* c = find_symbol_coder("bitpack");
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c, &bitpack_coder());
    EXPECT_EQ(find_symbol_coder("nope"), nullptr);
    std::mt19937 rng(5);
    const int widths[] = {2, 8, 1, 3, 5, 7, 4, 6, 2};
    const size_t n = 48;
    std::vector<std::vector<uint8_t>> runs;
    std::vector<uint8_t> stream, expect;
    {
        const auto w = c->writer(stream);
        for (int b : widths) {
            std::vector<uint8_t> r(n);
            for (uint8_t& x : r) x = static_cast<uint8_t>(rng() & ((1u << b) - 1));
            w->put(r.data(), n, b);
            std::vector<uint8_t> packed(packed_size(n, b));
            pack_bits_ref(r.data(), n, b, packed.data());
            expect.insert(expect.end(), packed.begin(), packed.end());
            ASSERT_EQ(c->fixed_bytes(n, b), packed.size());
            runs.push_back(std::move(r));
        }
        w->finish();
    }
    EXPECT_EQ(stream, expect);  // today's PATCH codes layout: runs back to back
    const auto rd = c->reader(stream.data(), stream.size());
    for (size_t i = 0; i < runs.size(); ++i) {
        std::vector<uint8_t> got(n);
        rd->get(got.data(), n, widths[i]);
        EXPECT_EQ(got, runs[i]) << i;
    }
    std::vector<uint8_t> more(n);
    EXPECT_THROW(rd->get(more.data(), n, 1), Error);  // past the end
    const auto short_rd = c->reader(stream.data(), 5);
    EXPECT_THROW(short_rd->get(more.data(), n, 1), Error);  // 6 bytes needed
}
