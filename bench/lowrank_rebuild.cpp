// deltacodec_lowrank_rebuild — what a low-rank rebuild (a matrix product) costs:
// one ROWS×COLS fp16 tensor (default 4096×11008, a Llama-2-7B MLP matrix), its
// fine-tune = base + a Gaussian delta, compressed with `--method lowrank --rank R`
// for each rank given and as an exact delta (`--exclude .`); then each .dcx is
// rebuilt in memory by apply() into a sink that drops the bytes (no disk), best of
// REPS. Prints compress time and rebuild MB/s (bytes of the rebuilt tensor per second).
//
//   deltacodec_lowrank_rebuild [--rows N] [--cols N] [--ranks 8,64] [--threads N] [--reps N] [--dir DIR]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "deltacodec/deltacodec.hpp"
#include "fast_rng.hpp"
#include "io/dtype.hpp"
#include "io/safetensors.hpp"

using namespace deltacodec;

namespace {

struct NullSink final : TensorSink {
    uint64_t bytes = 0;
    void begin(const std::string&, DType, const Shape&, uint64_t) override {}
    void write(const uint8_t*, size_t n) override { bytes += n; }
};

void write_f16(const std::string& path, uint64_t rows, uint64_t cols, const std::vector<uint16_t>& v) {
    const std::string h = safetensors_header({TensorSpec{"layer.mlp.up_proj.weight", DType::F16, {rows, cols}}}, {});
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    const uint64_t n = h.size();
    f.write(reinterpret_cast<const char*>(&n), 8);  // little-endian hosts only (x86-64, arm64)
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 2));
    if (!f) throw Error("cannot write " + path);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t rows = 4096, cols = 11008;
    std::vector<unsigned> ranks = {8, 64};
    unsigned threads = 0, reps = 3;
    std::string dir = "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--rows")
            rows = std::stoull(v);
        else if (a == "--cols")
            cols = std::stoull(v);
        else if (a == "--threads")
            threads = static_cast<unsigned>(std::stoul(v));
        else if (a == "--reps")
            reps = static_cast<unsigned>(std::stoul(v));
        else if (a == "--dir")
            dir = v;
        else if (a == "--ranks") {
            ranks.clear();
            for (size_t p = 0; p < v.size();) {
                const size_t c = v.find(',', p);
                ranks.push_back(static_cast<unsigned>(std::stoul(v.substr(p, c - p))));
                p = c == std::string::npos ? v.size() : c + 1;
            }
        } else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    try {
        const std::string base = dir + "/lowrank_bench_base.safetensors", ft = dir + "/lowrank_bench_ft.safetensors";
        {
            FastRng rng(7);
            std::vector<uint16_t> b(rows * cols), f(rows * cols);
            for (uint64_t i = 0; i < rows * cols; ++i) {
                const float x = 0.02f * rng.normal();
                b[i] = f32_to_f16(x);
                f[i] = f32_to_f16(f16_to_f32(b[i]) + 0.001f * rng.normal());
            }
            write_f16(base, rows, cols, b);
            write_f16(ft, rows, cols, f);
        }
        const double mb = static_cast<double>(rows * cols * 2) / 1e6;
        std::printf("%llu x %llu fp16 (%.1f MB), threads %u (0 = all), best of %u\n",
                    static_cast<unsigned long long>(rows), static_cast<unsigned long long>(cols), mb, threads, reps);
        std::printf("%-14s %10s %12s %12s\n", "method", "dcx MB", "compress s", "rebuild MB/s");
        std::vector<std::pair<std::string, CompressOptions>> runs;
        for (const unsigned r : ranks) {
            CompressOptions o;
            o.method = "lowrank";
            o.rank = r;
            o.include = ".";
            runs.push_back({"lowrank r=" + std::to_string(r), o});
        }
        CompressOptions exact;
        exact.exclude = ".";  // nothing selected: every tensor an exact delta
        runs.push_back({"exact delta", exact});
        for (auto& [name, o] : runs) {
            o.threads = threads;
            o.overwrite = true;
            const std::string dcx = dir + "/lowrank_bench.dcx";
            auto t0 = std::chrono::steady_clock::now();
            const CompressReport rep = compress(base, ft, dcx, o);
            const double ct = seconds_since(t0);
            double best = 1e30;
            for (unsigned k = 0; k < reps; ++k) {
                NullSink sink;
                ApplyOptions ao;
                ao.threads = threads;
                t0 = std::chrono::steady_clock::now();
                apply(base, dcx, sink, ao);
                best = std::min(best, seconds_since(t0));
            }
            std::printf("%-14s %10.2f %12.2f %12.0f\n", name.c_str(), static_cast<double>(rep.dcx_bytes) / 1e6, ct,
                        mb / best);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
