// The per-tensor pipeline: encode/decode round trips, the reported error equals
// the real error, determinism across thread counts, 0-bit patches, edges.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "codec/codec.hpp"
#include "format/container.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using testutil::codec_params;

namespace {

struct Pair {
    std::vector<float> base, ft;
    uint64_t rows, cols;
    DeltaView view() const { return {base.data(), DType::F32, ft.data(), DType::F32, rows, cols}; }
};

Pair make_pair(uint64_t rows, uint64_t cols, unsigned seed, float delta_scale = 1e-2f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    Pair p{std::vector<float>(rows * cols), std::vector<float>(rows * cols), rows, cols};
    for (uint64_t r = 0; r < rows; ++r) {
        const float row_scale = delta_scale * (0.2f + (r % 7) * 0.3f);  // rows of unequal importance
        for (uint64_t c = 0; c < cols; ++c) {
            p.base[r * cols + c] = 0.05f * nd(rng);
            p.ft[r * cols + c] = p.base[r * cols + c] + row_scale * nd(rng);
        }
    }
    return p;
}

// Decodes and returns ‖Δ̂ − Δ‖ / ‖Δ‖ computed directly.
double true_rel_error(const Pair& p, const CodedTensor& ct, ThreadPool& pool) {
    std::vector<float> dhat(p.rows * p.cols, NAN);
    decode_tensor(ct, pool, [&](uint64_t r0, uint64_t n, const float* strip) {
        std::copy(strip, strip + n * p.cols, dhat.begin() + r0 * p.cols);
    });
    double e = 0, r = 0;
    for (size_t i = 0; i < dhat.size(); ++i) {
        const double d = double(p.ft[i]) - p.base[i];
        e += (dhat[i] - d) * (dhat[i] - d);
        r += d * d;
    }
    return std::sqrt(e / r);
}

}  // namespace

TEST(Codec, EightBitsEverywhereIsNearlyLossless) {
    const Pair p = make_pair(64, 96, 1);
    ThreadPool pool(2);
    for (TransformId t : {TransformId::DCT, TransformId::HAAR}) {
        TensorStats st;
        auto ct = encode_tensor(p.view(), codec_params(t, 16, "8:1"), pool, st);
        ASSERT_TRUE(ct);
        const double err = true_rel_error(p, *ct, pool);
        EXPECT_LT(err, 0.01);
        EXPECT_NEAR(std::sqrt(st.err2 / st.ref2), err, 1e-3);
    }
}

TEST(Codec, ReportedErrorMatchesDecodedErrorForEveryConfiguration) {
    const Pair p = make_pair(100, 70, 2);  // edge patches on both sides for every p
    ThreadPool pool(2);
    const char* specs[] = {"2:0.5,0:0.5", "4:0.5,0:0.5", "2:0.34,1:0.33,0:0.33", "4:0.34,2:0.33,0:0.33"};
    for (int ps : {8, 16, 32, 64})
        for (const char* s : specs) {
            for (TransformId t : {TransformId::DCT, TransformId::HAAR})
                for (Bands b : {Bands::ALL, Bands::LL_LH_HL, Bands::LL_ONLY}) {
                    if (t == TransformId::DCT && b != Bands::ALL) continue;
                    for (int variant = 0; variant < (t == TransformId::DCT ? 3 : 1); ++variant) {
                        CodecParams c = codec_params(t, ps, s, b);
                        c.jpeg_table = variant == 1;
                        c.post_importance = variant == 2;
                        TensorStats st;
                        auto ct = encode_tensor(p.view(), c, pool, st);
                        ASSERT_TRUE(ct);
                        validate_coded(*ct);
                        const double err = true_rel_error(p, *ct, pool);
                        EXPECT_NEAR(std::sqrt(st.err2 / st.ref2), err, 1e-4 + 1e-3 * err)
                            << "p=" << ps << " " << s << " t=" << int(t) << " b=" << int(b) << " v=" << variant;
                        // The seed's min/max quantizer has no zero level: at 1-2 bits it can
                        // cost more than dropping a patch (error > 1). At 4 bits it may not.
                        if (s[0] == '4' && !c.jpeg_table) {  // the JPEG table multiplies high-band error
                            EXPECT_LT(err, 1.0)
                                << "p=" << ps << " " << s << " t=" << int(t) << " b=" << int(b) << " v=" << variant;
                        }
                    }
                }
        }
}

TEST(Codec, MoreBitsMeansLessError) {
    const Pair p = make_pair(128, 128, 3);
    ThreadPool pool(1);
    double prev = 2;
    for (const char* s : {"1:0.5,0:0.5", "2:0.5,0:0.5", "4:0.5,0:0.5", "4:1", "8:1"}) {
        TensorStats st;
        auto ct = encode_tensor(p.view(), codec_params(TransformId::DCT, 32, s), pool, st);
        const double err = true_rel_error(p, *ct, pool);
        EXPECT_LT(err, prev) << s;
        prev = err;
    }
}

TEST(Codec, ZeroBitPatchesAreZeroAndCostNothing) {
    const Pair p = make_pair(64, 64, 4);
    ThreadPool pool(1);
    TensorStats st;
    auto ct = encode_tensor(p.view(), codec_params(TransformId::HAAR, 16, "0:1"), pool, st);
    ASSERT_TRUE(ct);
    EXPECT_TRUE(ct->codes.empty());
    EXPECT_TRUE(ct->meta.empty());
    EXPECT_NEAR(true_rel_error(p, *ct, pool), 1.0, 1e-9);
    EXPECT_EQ(st.coded_patches, 0u);
}

TEST(Codec, ConstantDeltaPatchRebuildsExactly) {
    // The seed's 0-bit decoder bug: a constant patch must come back as that
    // constant (only the DC term carries it), not as mean·p².
    Pair p{std::vector<float>(32 * 32, 0.f), std::vector<float>(32 * 32, 0.125f), 32, 32};
    ThreadPool pool(1);
    TensorStats st;
    auto ct = encode_tensor(p.view(), codec_params(TransformId::DCT, 32, "8:1"), pool, st);
    EXPECT_LT(true_rel_error(p, *ct, pool), 1e-3);
}

TEST(Codec, CodesAreBitPackedAtTheirWidth) {
    const Pair p = make_pair(128, 128, 5);
    ThreadPool pool(1);
    TensorStats st;
    auto ct = encode_tensor(p.view(), codec_params(TransformId::HAAR, 32, "2:0.5,0:0.5", Bands::LL_LH_HL), pool, st);
    // 16 patches, 8 coded, each 3/4·1024 coefficients at 2 bits.
    EXPECT_EQ(ct->codes.size(), 8u * 768 * 2 / 8);
    EXPECT_EQ(ct->meta.size(), 8u * 4);  // f16 lo/hi
    CodecParams c = codec_params(TransformId::HAAR, 32, "2:0.5,0:0.5", Bands::LL_LH_HL);
    c.meta_f32 = true;
    auto ct32 = encode_tensor(p.view(), c, pool, st);
    EXPECT_EQ(ct32->meta.size(), 8u * 8);
}

TEST(Codec, OutputIdenticalForAnyThreadCount) {
    const Pair p = make_pair(200, 136, 6);
    ByteWriter w1, w4;
    for (unsigned th : {1u, 4u}) {
        ThreadPool pool(th);
        TensorStats st;
        auto ct = encode_tensor(p.view(), codec_params(TransformId::DCT, 16, "4:0.34,2:0.33,0:0.33"), pool, st);
        write_coded_body(th == 1 ? w1 : w4, *ct, true);
    }
    EXPECT_EQ(w1.buf, w4.buf);
}

TEST(Codec, SerializationRoundTrip) {
    const Pair p = make_pair(72, 40, 7);
    ThreadPool pool(1);
    TensorStats st;
    auto ct =
        encode_tensor(p.view(), codec_params(TransformId::HAAR, 16, "4:0.34,2:0.33,0:0.33", Bands::LL_ONLY), pool, st);
    ByteWriter w;
    write_coded_body(w, *ct, true);
    ByteReader r(w.buf.data(), w.buf.size(), "test");
    const CodedTensor back = read_coded_body(r, 72, 40);
    EXPECT_EQ(back.selectors, ct->selectors);
    EXPECT_EQ(back.codes, ct->codes);
    EXPECT_EQ(back.meta, ct->meta);
    EXPECT_EQ(back.widths, ct->widths);
    EXPECT_EQ(back.scale, ct->scale);
}

TEST(Codec, NonFiniteDeltaIsRefused) {
    Pair p = make_pair(32, 32, 8);
    p.ft[17] = INFINITY;
    ThreadPool pool(1);
    TensorStats st;
    EXPECT_FALSE(encode_tensor(p.view(), codec_params(TransformId::DCT, 16, "2:1"), pool, st));
}

TEST(Codec, F16AndBf16Inputs) {
    const Pair p = make_pair(64, 64, 9);
    std::vector<uint16_t> b16(p.base.size()), f16(p.ft.size());
    from_f32(DType::BF16, p.base.data(), b16.data(), b16.size());
    from_f32(DType::F16, p.ft.data(), f16.data(), f16.size());
    DeltaView dv{b16.data(), DType::BF16, f16.data(), DType::F16, 64, 64};
    std::vector<float> row(64), tmp(64);
    dv.read_rows(3, 1, row.data(), tmp.data());
    EXPECT_FLOAT_EQ(row[5], f16_to_f32(f16[3 * 64 + 5]) - bf16_to_f32(b16[3 * 64 + 5]));
    ThreadPool pool(1);
    TensorStats st;
    EXPECT_TRUE(encode_tensor(dv, codec_params(TransformId::HAAR, 32, "4:1"), pool, st));
    EXPECT_GT(st.ref2, 0);
}
