// ProgressFn: bytes, tensors and the current tensor's name, from the start to the
// end, updated inside large tensors (patch rows when compressing, bands when
// rebuilding), never more than ~1,000 calls, never two at once.
#include <gtest/gtest.h>

#include <atomic>

#include "deltacodec/deltacodec.hpp"
#include "testutil.hpp"

using namespace deltacodec;
using namespace testutil;

namespace {

struct Recorder {
    std::vector<Progress> calls;
    std::atomic<int> inside{0};
    bool overlapped = false;
    ProgressFn fn() {
        return [this](const Progress& p) {
            if (inside.fetch_add(1) != 0) overlapped = true;
            calls.push_back(p);
            inside.fetch_sub(1);
        };
    }
};

// Every call's counts are within bounds and never go backwards; the first call
// has nothing done and the last everything; the totals never change.
void expect_well_formed(const Recorder& r, uint64_t bytes_total, size_t tensors_total) {
    ASSERT_GE(r.calls.size(), 2u);
    EXPECT_FALSE(r.overlapped) << "two calls at once";
    EXPECT_LE(r.calls.size(), 1003u) << "more calls than the documented bound";
    EXPECT_EQ(r.calls.front().bytes_done, 0u);
    EXPECT_EQ(r.calls.front().tensors_done, 0u);
    EXPECT_EQ(r.calls.back().bytes_done, bytes_total);
    EXPECT_EQ(r.calls.back().tensors_done, tensors_total);
    for (size_t i = 0; i < r.calls.size(); ++i) {
        const Progress& p = r.calls[i];
        EXPECT_EQ(p.bytes_total, bytes_total);
        EXPECT_EQ(p.tensors_total, tensors_total);
        EXPECT_LE(p.bytes_done, p.bytes_total);
        EXPECT_LE(p.tensors_done, p.tensors_total);
        if (i) {
            EXPECT_GE(p.bytes_done, r.calls[i - 1].bytes_done) << i;
            EXPECT_GE(p.tensors_done, r.calls[i - 1].tensors_done) << i;
        }
    }
}

// Calls made while the first tensor (tensors_done == 0) was part done.
size_t calls_inside_first_tensor(const Recorder& r, uint64_t first_bytes) {
    size_t n = 0;
    for (const Progress& p : r.calls) n += p.tensors_done == 0 && p.bytes_done > 0 && p.bytes_done < first_bytes;
    return n;
}

struct SinkToNothing final : TensorSink {
    void begin(const std::string&, DType, const Shape&, uint64_t) override {}
    void write(const uint8_t*, size_t) override {}
};

}  // namespace

// Caught on the old code: progress was (done, total, name) per finished tensor,
// with nothing in bytes and nothing inside a tensor.
TEST(Progress, BytesAndTensorsInsideLargeTensors) {
    TempDir dir;
    // One large coded tensor first (16 MiB of f32: 32 patch rows at p = 64; 4 decoded
    // bands), then small ones.
    const uint64_t rows = 2048, cols = 2048;
    const auto b = gaussian(rows * cols, 0.05, 1);
    std::vector<T> base = {make_tensor("layer.0.weight", DType::F32, {rows, cols}, b)};
    std::vector<T> ft = {make_tensor("layer.0.weight", DType::F32, {rows, cols}, perturb(b, rows, cols, 0.004, 2))};
    for (int i = 0; i < 5; ++i) {
        const auto s = gaussian(64, 1.0, 10 + i);
        base.push_back(make_tensor("norm." + std::to_string(i), DType::F32, {64}, s));
        ft.push_back(make_tensor("norm." + std::to_string(i), DType::F32, {64}, perturb(s, 1, 64, 0.01, 20 + i)));
    }
    write_safetensors(dir / "b.safetensors", base);
    write_safetensors(dir / "f.safetensors", ft);
    const uint64_t first = rows * cols * 4, total = first + 5 * 64 * 4;

    for (unsigned threads : {1u, 4u}) {
        // Each run's options: these threads, a fresh recorder, outputs replaced.
        auto with = [threads](auto opt, Recorder& r) {
            opt.threads = threads;
            opt.progress = r.fn();
            return opt;
        };
        Recorder c, d, a;
        CompressOptions co = with(CompressOptions{}, c);
        co.overwrite = true;
        compress(dir / "b.safetensors", dir / "f.safetensors", dir / "x.dcx", co);
        expect_well_formed(c, total, 6);
        EXPECT_GE(calls_inside_first_tensor(c, first), 10u) << "encode progress inside a large tensor";
        EXPECT_EQ(c.calls.back().tensor, "norm.4");

        DecompressOptions dopt = with(DecompressOptions{}, d);
        dopt.overwrite = true;
        decompress(dir / "b.safetensors", dir / "x.dcx", dir / "out.safetensors", dopt);
        expect_well_formed(d, total, 6);
        EXPECT_GE(calls_inside_first_tensor(d, first), 2u) << "decode progress per band";

        SinkToNothing sink;
        apply(dir / "b.safetensors", dir / "x.dcx", sink, with(ApplyOptions{}, a));
        expect_well_formed(a, total, 6);
        EXPECT_EQ(a.calls.size(), d.calls.size());
    }
}

// Many small tensors: the number of calls stays bounded (one per 1/1000 of the bytes).
TEST(Progress, CallsStayBoundedWithManyTensors) {
    TempDir dir;
    std::vector<T> base, ft;
    for (int i = 0; i < 3000; ++i) {
        const std::string name = "t." + std::to_string(i);
        const auto v = gaussian(4, 1.0, i);
        base.push_back(make_tensor(name, DType::F32, {4}, v));
        ft.push_back(make_tensor(name, DType::F32, {4}, perturb(v, 1, 4, 0.01, 5000 + i)));
    }
    // compress needs one related 2-D tensor
    const auto w = gaussian(64 * 64, 0.05, 9);
    base.push_back(make_tensor("w", DType::F32, {64, 64}, w));
    ft.push_back(make_tensor("w", DType::F32, {64, 64}, perturb(w, 64, 64, 0.004, 10)));
    write_safetensors(dir / "b.safetensors", base);
    write_safetensors(dir / "f.safetensors", ft);
    Recorder c;
    CompressOptions co;
    co.progress = c.fn();
    compress(dir / "b.safetensors", dir / "f.safetensors", dir / "x.dcx", co);
    expect_well_formed(c, 3000 * 16 + 64 * 64 * 4, 3001);
}

// An exception from the callback ends the run; no output is left.
TEST(Progress, ThrowingCallbackStopsTheRun) {
    TempDir dir;
    const std::string kBase = std::string(DELTACODEC_SOURCE_DIR) + "/examples/base.safetensors";
    const std::string kFt = std::string(DELTACODEC_SOURCE_DIR) + "/examples/finetuned.safetensors";
    CompressOptions co;
    int n = 0;
    co.progress = [&n](const Progress&) {
        if (++n == 3) throw Error("stop");
    };
    EXPECT_THROW(compress(kBase, kFt, dir / "x.dcx", co), Error);
    EXPECT_EQ(dir_entries(dir.path()), std::vector<std::string>{});
}
