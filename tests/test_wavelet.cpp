// The lifting wavelets (db2, db4, cdf97; src/codec/transform_lifting.cpp): lifting
// against direct convolution with the filter taps, perfect reconstruction,
// synthesis gains and the analysis bound, the patch coder with them (measured
// error, thread invariance), and a reader's checks of their transform code and
// level count.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "codec/codec.hpp"
#include "format/container.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using testutil::energy;
using testutil::max_abs_diff;
using testutil::random_patch;

namespace {

const TransformId kWavelets[] = {TransformId::DB2, TransformId::DB4, TransformId::CDF97};

std::string name(TransformId id) { return std::string(find_transform(id)->name); }

}  // namespace

TEST(Wavelet, LiftingMatchesDirectConvolutionAtEveryLevel) {
    for (TransformId id : kWavelets)
        for (int p : {8, 16, 24, 32})
            for (int levels = 1; levels_ok(id, p, levels); ++levels) {
                const auto x = random_patch(p, 100 + p + levels);
                std::vector<float> ref(x.size()), fast(x.size()), back(x.size()), s(x.size());
                wavelet2_reference(id, levels, x.data(), ref.data(), p, false);
                const auto t = make_lifting(id, p, levels);
                t->forward(x.data(), fast.data(), s.data());
                EXPECT_LT(max_abs_diff(ref, fast), 2e-5) << name(id) << " p=" << p << " L=" << levels;
                // The reference inverse (M⁻¹ by elimination) undoes the lifting forward.
                wavelet2_reference(id, levels, fast.data(), back.data(), p, true);
                EXPECT_LT(max_abs_diff(back, x), 2e-5) << name(id) << " p=" << p << " L=" << levels;
            }
}

TEST(Wavelet, PerfectReconstructionAndParseval) {
    for (TransformId id : kWavelets)
        for (int p : {8, 40, 64, 256})
            for (int levels = 1; levels_ok(id, p, levels); ++levels) {
                const auto x = random_patch(p, 7 * p + levels);
                std::vector<float> c(x.size()), back(x.size()), s(x.size());
                const auto t = find_transform(id)->make(p, levels);
                t->forward(x.data(), c.data(), s.data());
                t->inverse(c.data(), back.data(), s.data());
                EXPECT_LT(max_abs_diff(back, x), 1e-5) << name(id) << " p=" << p << " L=" << levels;
                if (id != TransformId::CDF97) {  // orthonormal (periodic extension)
                    EXPECT_NEAR(energy(c), energy(x), 1e-5 * energy(x)) << name(id) << " p=" << p << " L=" << levels;
                }
            }
    EXPECT_FALSE(levels_ok(TransformId::CDF97, 8, 3));  // 8 / 2^3 = 1: too small
    EXPECT_TRUE(levels_ok(TransformId::CDF97, 256, 7));
    EXPECT_FALSE(levels_ok(TransformId::DB2, 256, 8));
    EXPECT_FALSE(levels_ok(TransformId::DB2, 64, 0));
    EXPECT_TRUE(levels_ok(TransformId::HAAR, 64, 1));
    EXPECT_FALSE(levels_ok(TransformId::HAAR, 64, 2));  // the seed's dwt stays one level
    EXPECT_TRUE(levels_ok(TransformId::DCT, 64, 0));
}

// A single coefficient changed by e rebuilds to a patch error of gain²·e² at
// every position (not only on average over a band), and gain_weighted_error()
// says so; cdf97's gains differ from 1 and vary near the patch edges.
TEST(Wavelet, SingleCoefficientErrorIsGainWeighted) {
    for (TransformId id : kWavelets)
        for (int p : {8, 16})
            for (int levels = 1; levels_ok(id, p, levels); ++levels) {
                const auto x = random_patch(p, 31 + p + levels);
                const size_t p2 = x.size();
                const auto t = find_transform(id)->make(p, levels);
                const std::vector<double> g = gain_map(id, p, levels);
                std::vector<double> g2(p2);
                for (size_t i = 0; i < p2; ++i) g2[i] = g[i] * g[i];
                std::vector<float> c(p2), chat(p2), xr(p2), s(p2);
                t->forward(x.data(), c.data(), s.data());
                double gmin = 1e9, gmax = 0;
                for (size_t i = 0; i < p2; ++i) {
                    chat = c;
                    chat[i] += 0.25f;
                    t->inverse(chat.data(), xr.data(), s.data());
                    double e = 0;
                    for (size_t j = 0; j < p2; ++j) e += (double(xr[j]) - x[j]) * (double(xr[j]) - x[j]);
                    EXPECT_NEAR(gain_weighted_error(c.data(), chat.data(), g2.data(), p2), e, 1e-5)
                        << name(id) << " p=" << p << " L=" << levels << " i=" << i;
                    gmin = std::min(gmin, g[i]);
                    gmax = std::max(gmax, g[i]);
                }
                if (id == TransformId::CDF97) {
                    EXPECT_GT(gmax - gmin, 0.05) << "cdf97's gains are not all 1";
                } else {
                    EXPECT_EQ(gmin, 1.0);
                    EXPECT_EQ(gmax, 1.0);
                }
                // Each band's declared gain is the RMS of its positions' gains.
                for (const Band& b : find_transform(id)->band_layout(p, levels)) {
                    double ss = 0;
                    for (int i = b.row0; i < b.row0 + b.rows; ++i)
                        for (int j = b.col0; j < b.col0 + b.cols; ++j) ss += g2[static_cast<size_t>(i) * p + j];
                    EXPECT_NEAR(b.gain, std::sqrt(ss / (b.rows * b.cols)), 1e-9) << name(id) << " " << b.name;
                }
            }
}

// analysis_bound ≥ max |coefficient| / ‖patch‖ for every size and level count:
// random patches, and the adversarial patch for each position (its analysis
// function, which reaches the Cauchy–Schwarz bound exactly). The bound is also
// tight (within 1%), so f16 patch ranges keep their precision.
TEST(Wavelet, AnalysisBoundHoldsAndIsTight) {
    for (TransformId id : kWavelets) {
        const float bound = find_transform(id)->analysis_bound;
        double worst = 0;
        for (int p = 8; p <= 256; p += 8)
            for (int levels = 1; levels_ok(id, p, levels); ++levels)
                for (double a : pyramid_analysis_norms(id, p, levels)) worst = std::max(worst, a);
        EXPECT_LE(worst, bound * (1 + 1e-9)) << name(id);  // orthonormal: 1 up to rounding
        EXPECT_GE(worst, 0.99 * bound) << name(id);
        for (int p : {8, 16})
            for (int levels = 1; levels_ok(id, p, levels); ++levels) {
                const size_t p2 = static_cast<size_t>(p) * p;
                const auto t = find_transform(id)->make(p, levels);
                const std::vector<double> an = pyramid_analysis_norms(id, p, levels);
                // The analysis functions: row (u,v) of the 2-D analysis, read off p² forwards.
                std::vector<std::vector<float>> rows(p2, std::vector<float>(p2));
                std::vector<float> e(p2), c(p2), s(p2);
                for (size_t j = 0; j < p2; ++j) {
                    std::fill(e.begin(), e.end(), 0.f);
                    e[j] = 1.f;
                    t->forward(e.data(), c.data(), s.data());
                    for (size_t u = 0; u < p2; ++u) rows[u][j] = c[u];
                }
                for (size_t u = 0; u < p2; ++u) {
                    std::vector<float> adv = rows[u];
                    const double n = std::sqrt(energy(adv));
                    for (float& v : adv) v = static_cast<float>(v / n);
                    t->forward(adv.data(), c.data(), s.data());
                    EXPECT_NEAR(std::fabs(c[u]), an[u], 1e-5) << name(id) << " p=" << p << " u=" << u;
                    EXPECT_LE(std::fabs(c[u]), bound * (1 + 1e-6)) << name(id) << " p=" << p << " u=" << u;
                }
                for (unsigned seed = 0; seed < 20; ++seed) {
                    const auto x = random_patch(p, seed);
                    t->forward(x.data(), c.data(), s.data());
                    const double n = std::sqrt(energy(x));
                    for (float v : c) EXPECT_LE(std::fabs(v), bound * n * (1 + 1e-6)) << name(id);
                }
            }
    }
}

// Multi-level band layout: ll_lh_hl drops hh1, ll_only keeps the level-1 LL
// quadrant: the same kept counts as the seed's one-level Haar.
TEST(Wavelet, BandChoicesKeepHaarsCounts) {
    for (TransformId id : kWavelets)
        for (int levels : {1, 2, 3}) {
            const int p = 32;
            EXPECT_EQ(find_transform(id)->band_layout(p, levels).size(), static_cast<size_t>(3 * levels + 1));
            EXPECT_EQ(kept_count(id, Bands::ALL, p, levels), 1024u);
            EXPECT_EQ(kept_count(id, Bands::LL_LH_HL, p, levels), 768u);
            EXPECT_EQ(kept_count(id, Bands::LL_ONLY, p, levels), 256u);
            const auto m = kept_mask(id, Bands::LL_LH_HL, p, levels);
            EXPECT_EQ(m[31 * 32 + 31], 0) << "hh1 dropped";
            EXPECT_EQ(m[0], 1);
        }
}

namespace {
struct Pair {
    std::vector<float> base, ft;
    uint64_t rows, cols;
    DeltaView view() const { return {base.data(), DType::F32, ft.data(), DType::F32, rows, cols}; }
};
Pair make_pair(uint64_t rows, uint64_t cols, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd(0.f, 1.f);
    Pair p{std::vector<float>(rows * cols), std::vector<float>(rows * cols), rows, cols};
    for (uint64_t r = 0; r < rows; ++r)
        for (uint64_t c = 0; c < cols; ++c) {
            p.base[r * cols + c] = 0.05f * nd(rng);
            // Smooth along the row plus noise: the wavelets have something to compact.
            p.ft[r * cols + c] = p.base[r * cols + c] + 0.01f * std::sin(0.1f * c + r % 5) + 0.003f * nd(rng);
        }
    return p;
}
double decoded_err2(const Pair& p, const CodedTensor& ct, ThreadPool& pool) {
    std::vector<float> dhat(p.rows * p.cols, NAN);
    decode_tensor(ct, pool, [&](uint64_t r0, uint64_t n, const float* strip) {
        std::copy(strip, strip + n * p.cols, dhat.begin() + r0 * p.cols);
    });
    double e = 0;
    for (size_t i = 0; i < dhat.size(); ++i) {
        const double d = double(p.ft[i]) - p.base[i];
        e += (dhat[i] - d) * (dhat[i] - d);
    }
    return e;
}
}  // namespace

// The error the encoder reports (what rate control allocates by) is the error of
// what the decoder rebuilds, for the orthonormal and the biorthogonal wavelets,
// with dropped bands and edge patches; and the bytes do not depend on threads.
TEST(Wavelet, PatchCoderMeasuresItsErrorAndIsThreadInvariant) {
    const Pair pr = make_pair(100, 72, 3);  // edge patches on both sides
    for (TransformId id : kWavelets)
        for (int levels : {1, 2})
            for (Bands b : {Bands::ALL, Bands::LL_LH_HL}) {
                const CodecParams c = testutil::codec_params(id, 16, "4:0.34,2:0.33,0:0.33", b, levels);
                ByteWriter w1, w4;
                double err1 = 0;
                for (unsigned th : {1u, 4u}) {
                    ThreadPool pool(th);
                    TensorStats st;
                    auto ct = encode_tensor(pr.view(), c, pool, st);
                    ASSERT_TRUE(ct);
                    EXPECT_EQ(ct->levels, levels);
                    validate_coded(*ct);
                    const double e = decoded_err2(pr, *ct, pool);
                    EXPECT_NEAR(st.err2, e, 1e-4 * e) << name(id) << " L=" << levels << " b=" << int(b);
                    EXPECT_LT(e, st.ref2);
                    if (th == 1) err1 = st.err2;
                    EXPECT_EQ(st.err2, err1);
                    write_coded_body(th == 1 ? w1 : w4, *ct, true);
                }
                EXPECT_EQ(w1.buf, w4.buf) << name(id);
                ByteReader r(w1.buf.data(), w1.buf.size(), "test");
                const CodedTensor back = read_coded_body(r, pr.rows, pr.cols);
                EXPECT_EQ(back.transform, id);
                EXPECT_EQ(back.levels, levels);
            }
}

// At 8 bits everywhere every wavelet rebuilds the delta closely.
TEST(Wavelet, EightBitsIsNearlyLossless) {
    const Pair pr = make_pair(64, 64, 4);
    ThreadPool pool(2);
    for (TransformId id : kWavelets) {
        TensorStats st;
        auto ct = encode_tensor(pr.view(), testutil::codec_params(id, 32, "8:1", Bands::ALL, 3), pool, st);
        ASSERT_TRUE(ct);
        EXPECT_LT(decoded_err2(pr, *ct, pool), 1e-3 * st.ref2) << name(id);
    }
}

// A hostile file: an unknown transform code, and level counts the transform
// cannot take at the record's patch size, are refused with a one-line Error.
TEST(Wavelet, ReaderRefusesUnknownTransformsAndBadLevelCounts) {
    const Pair pr = make_pair(32, 32, 5);
    ThreadPool pool(1);
    TensorStats st;
    auto ct = encode_tensor(pr.view(), testutil::codec_params(TransformId::CDF97, 16, "2:1", Bands::ALL, 2), pool, st);
    ASSERT_TRUE(ct);
    ByteWriter w;
    write_coded_body(w, *ct, true);
    // u64 rows, u64 cols, u16 patch, then transform, bands, levels.
    const size_t at_transform = 18, at_levels = 20;
    ASSERT_EQ(w.buf[at_transform], 4);
    ASSERT_EQ(w.buf[at_levels], 2);
    auto refused = [&](size_t at, uint8_t v) {
        std::vector<uint8_t> b = w.buf;
        b[at] = v;
        ByteReader r(b.data(), b.size(), "hostile.dcx: tensor t");
        try {
            read_coded_body(r, pr.rows, pr.cols);
        } catch (const Error& e) {
            const std::string m = e.what();
            EXPECT_EQ(m.find('\n'), std::string::npos) << m;
            EXPECT_NE(m.find("hostile.dcx"), std::string::npos) << m;
            return m;
        }
        ADD_FAILURE() << "byte " << at << " = " << int(v) << " was accepted";
        return std::string();
    };
    for (uint8_t t : {5, 6, 255}) EXPECT_NE(refused(at_transform, t).find("unknown transform"), std::string::npos);
    for (uint8_t l : {0, 4, 8, 255})
        EXPECT_NE(refused(at_levels, l).find("levels"), std::string::npos);  // 16 / 2^4 = 1
    // The same body read as Haar (no levels byte) misreads what follows and is refused too.
    refused(at_transform, 1);
    // A valid level count for this patch size is read as such (3 levels: 16 / 8 = 2).
    std::vector<uint8_t> b = w.buf;
    b[at_levels] = 3;
    ByteReader r(b.data(), b.size(), "t");
    EXPECT_EQ(read_coded_body(r, pr.rows, pr.cols).levels, 3);
}

// The CLI: --method db2|db4|cdf97 with --levels, recorded in the file, rebuilt
// by decompress to the error compress reported; --levels refused with dwt and
// where the patch is too small, as a usage error (exit 2, one line).
TEST(Wavelet, CliCompressesWithLevelsAndRefusesBadOnes) {
    using namespace testutil;
    TempDir dir;
    const std::string base = std::string(DELTACODEC_SOURCE_DIR) + "/examples/base.safetensors";
    const std::string ft = std::string(DELTACODEC_SOURCE_DIR) + "/examples/finetuned.safetensors";
    const RunResult c = run_cli({"compress", base, ft, "-o", dir / "w.dcx", "-q", "--method", "cdf97", "--levels", "3",
                                 "--patch", "16", "--bits", "4:0.5,2:0.5"},
                                dir.path());
    ASSERT_EQ(c.rc, 0) << c.err;
    const RunResult i = run_cli({"info", dir / "w.dcx", "--json"}, dir.path());
    ASSERT_EQ(i.rc, 0) << i.err;
    EXPECT_NE(i.out.find("\"levels\": 3"), std::string::npos) << i.out.substr(0, 2000);
    EXPECT_NE(i.out.find("\"transform\": \"cdf97\""), std::string::npos);
    const RunResult t = run_cli({"test", base, dir / "w.dcx"}, dir.path());
    EXPECT_EQ(t.rc, 0) << t.err;
    for (const std::vector<std::string>& bad :
         {std::vector<std::string>{"--method", "dwt", "--levels", "2"},
          std::vector<std::string>{"--method", "db4", "--levels", "4", "--patch", "8"},
          std::vector<std::string>{"--method", "db2", "--levels", "8"}}) {
        std::vector<std::string> a = {"compress", base, ft, "-o", dir / "x.dcx", "-q"};
        a.insert(a.end(), bad.begin(), bad.end());
        const RunResult r = run_cli(a, dir.path());
        EXPECT_EQ(r.rc, 2) << r.err;
        EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
        EXPECT_NE(r.err.find("--levels"), std::string::npos) << r.err;
        EXPECT_FALSE(fs::exists(dir / "x.dcx"));
    }
}
