// apply(): the in-memory rebuild gives exactly the bytes decompress() writes, in
// the .dcx's order, in bands, without writing a file.
#include <gtest/gtest.h>

#include <random>

#include "deltacodec/deltacodec.hpp"
#include "io/checkpoint.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {
const std::string kGolden = std::string(DELTACODEC_SOURCE_DIR) + "/tests/data/golden";

// Copies every tensor into memory the test owns, sized by begin().
struct MemorySink final : TensorSink {
    struct Tensor {
        std::string name;
        DType dtype;
        Shape shape;
        std::vector<uint8_t> bytes;
        uint64_t filled = 0;
        size_t writes = 0;
        bool ended = false;
    };
    std::vector<Tensor> tensors;
    void begin(const std::string& name, DType dtype, const Shape& shape, uint64_t nbytes) override {
        ASSERT_TRUE(tensors.empty() || tensors.back().ended) << "begin() before the previous end()";
        tensors.push_back(Tensor{name, dtype, shape, std::vector<uint8_t>(nbytes), 0, 0, false});
    }
    void write(const uint8_t* data, size_t n) override {
        Tensor& t = tensors.back();
        ASSERT_LE(t.filled + n, t.bytes.size()) << t.name << ": more bytes than begin() announced";
        std::copy(data, data + n, t.bytes.begin() + static_cast<std::ptrdiff_t>(t.filled));
        t.filled += n;
        ++t.writes;
    }
    void end() override { tensors.back().ended = true; }
};

void expect_apply_matches_decompress(const std::string& base, const std::string& dcx, bool directory,
                                     unsigned threads) {
    TempDir dir;
    const std::string out = dir / "out";
    DecompressOptions dopt;
    dopt.threads = threads;
    decompress(base, dcx, out, dopt);
    MemorySink sink;
    ApplyOptions aopt;
    aopt.threads = threads;
    const ApplyReport rep = apply(base, dcx, sink, aopt);
    const Checkpoint rebuilt = Checkpoint::open(out);
    ASSERT_EQ(rep.tensors, rebuilt.tensors().size()) << dcx;
    ASSERT_EQ(sink.tensors.size(), rebuilt.tensors().size()) << dcx;
    EXPECT_EQ(rebuilt.is_directory(), directory);
    uint64_t total = 0;
    for (size_t i = 0; i < sink.tensors.size(); ++i) {
        const MemorySink::Tensor& t = sink.tensors[i];
        const TensorRef& r = rebuilt.tensors()[i];
        EXPECT_EQ(t.name, r.info->name) << dcx << ": order";
        EXPECT_EQ(t.dtype, r.info->dtype) << t.name;
        EXPECT_EQ(t.shape, r.info->shape) << t.name;
        EXPECT_TRUE(t.ended) << t.name;
        EXPECT_EQ(t.filled, t.bytes.size()) << t.name;
        ASSERT_EQ(t.bytes.size(), r.info->nbytes()) << t.name;
        EXPECT_TRUE(std::equal(t.bytes.begin(), t.bytes.end(), r.data())) << dcx << ": tensor " << t.name;
        total += t.bytes.size();
    }
    EXPECT_EQ(rep.bytes, total);
}
}  // namespace

// apply() did not exist: the old tree does not build this test.
TEST(Apply, SameBytesAsDecompressOnEveryGoldenFile) {
    for (const char* name : {"tiny_default", "tiny_dct16", "tiny_dwt_mse"})
        expect_apply_matches_decompress(kGolden + "/tiny_base.safetensors", kGolden + "/" + name + ".dcx", false, 2);
    expect_apply_matches_decompress(kGolden + "/dir_base", kGolden + "/dir_default.dcx", true, 1);
}

// A coded tensor larger than one band arrives in several write() calls, each
// band-sized, and still adds up to decompress's bytes.
TEST(Apply, LargeCodedTensorArrivesInBands) {
    TempDir dir;
    const uint64_t r = 2048, c = 1536;  // 6 MiB of f16: more than one 4 MiB band
    const auto b = gaussian(r * c, 0.05, 11);
    write_safetensors(dir / "base.safetensors", {make_tensor("layer.w", DType::F16, {r, c}, b)});
    write_safetensors(dir / "ft.safetensors", {make_tensor("layer.w", DType::F16, {r, c}, perturb(b, r, c, 0.01, 12))});
    CompressOptions co;
    co.codec.patch = 16;
    compress(dir / "base.safetensors", dir / "ft.safetensors", dir / "d.dcx", co);
    expect_apply_matches_decompress(dir / "base.safetensors", dir / "d.dcx", false, 1);
    MemorySink sink;
    apply(dir / "base.safetensors", dir / "d.dcx", sink);
    ASSERT_EQ(sink.tensors.size(), 1u);
    EXPECT_GE(sink.tensors[0].writes, 2u);
}

TEST(Apply, WrongBaseIsRefused) {
    MemorySink sink;
    try {
        apply(kGolden + "/tiny_ft.safetensors", kGolden + "/tiny_default.dcx", sink);
        FAIL() << "apply() accepted the wrong base";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("wrong base"), std::string::npos) << e.what();
    }
}

// An exact-delta tensor spanning several 4 MiB bands, unchanged in some and
// changed in others (as a fine-tune that trained a few embedding rows): every
// band comes back bit for bit, unchanged bands straight from the base's bytes.
// Its planes are zstd-coded (decoded progressively); a delta of random bits
// makes them stored instead, and that path is checked too.
TEST(Apply, ExactDeltaBandsUnchangedAndChanged) {
    TempDir dir;
    const uint64_t n = 5u << 20;  // f16: 10 MiB, three bands of 2 Mi elements
    const auto b = gaussian(n, 0.05, 21), w = gaussian(64 * 64, 0.05, 22);
    const T wb = make_tensor("w", DType::F16, {64, 64}, w);
    const T wf = make_tensor("w", DType::F16, {64, 64}, perturb(w, 64, 64, 0.01, 23));
    auto sparse = b;
    for (uint64_t i = 2500000; i < 2500000 + 300; ++i) sparse[i] += 0.01;  // band 1 changes
    sparse[n - 1] += 0.02;                                                 // and band 2's last element
    T random = make_tensor("emb", DType::F16, {n}, b);
    std::mt19937 rng(24);
    for (uint8_t& x : random.bytes) x = static_cast<uint8_t>(rng());
    write_safetensors(dir / "base.safetensors", {wb, make_tensor("emb", DType::F16, {n}, b)});
    for (const T& emb : {make_tensor("emb", DType::F16, {n}, sparse), random}) {
        write_safetensors(dir / "ft.safetensors", {wf, emb});
        CompressOptions co;
        co.overwrite = true;
        const CompressReport rep = compress(dir / "base.safetensors", dir / "ft.safetensors", dir / "d.dcx", co);
        ASSERT_EQ(rep.tensors.size(), 2u);
        EXPECT_EQ(rep.tensors[1].kind, "exact");
        MemorySink sink;
        apply(dir / "base.safetensors", dir / "d.dcx", sink);
        ASSERT_EQ(sink.tensors.size(), 2u);
        EXPECT_TRUE(sink.tensors[1].bytes == emb.bytes);
        EXPECT_GE(sink.tensors[1].writes, 3u);
        expect_apply_matches_decompress(dir / "base.safetensors", dir / "d.dcx", false, 2);
    }
}

// A 2-D tensor the fine-tune left unchanged is not patch-coded (which would
// spend bytes on zero patches and decode them): it is stored as an exact delta
// of zeros, reason "unchanged", and comes back as the base's own bytes.
TEST(Apply, UnchangedMatrixIsStoredAsAZeroExactDelta) {
    TempDir dir;
    const uint64_t r = 512, c = 512;
    const auto w1 = gaussian(r * c, 0.05, 31), w2 = gaussian(r * c, 0.05, 32);
    const T same = make_tensor("same.w", DType::F16, {r, c}, w1);
    write_safetensors(dir / "base.safetensors", {same, make_tensor("moved.w", DType::F16, {r, c}, w2)});
    write_safetensors(dir / "ft.safetensors",
                      {same, make_tensor("moved.w", DType::F16, {r, c}, perturb(w2, r, c, 0.01, 33))});
    for (const char* method : {"", "bitdelta"}) {
        CompressOptions co;
        co.method = method;
        co.overwrite = true;
        const CompressReport rep = compress(dir / "base.safetensors", dir / "ft.safetensors", dir / "d.dcx", co);
        ASSERT_EQ(rep.tensors.size(), 2u);
        EXPECT_EQ(rep.tensors[0].kind, "exact") << method;
        EXPECT_EQ(rep.tensors[0].reason, "unchanged") << method;
        EXPECT_LT(rep.tensors[0].stored_bytes, 1024u) << method;  // 512 KiB of zeros
        EXPECT_EQ(rep.tensors[1].kind, "coded") << method;
        MemorySink sink;
        apply(dir / "base.safetensors", dir / "d.dcx", sink);
        ASSERT_EQ(sink.tensors.size(), 2u);
        EXPECT_TRUE(sink.tensors[0].bytes == same.bytes) << method;
    }
}
