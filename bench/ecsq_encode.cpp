// deltacodec_ecsq_encode — what ecsq's encoder (quantize + rANS, method 4; also
// hybrid's residual) costs per parameter, and a fingerprint of what it writes:
// one ROWS×COLS fp16 pair in memory (default 4096×11008, a Llama-2-7B MLP
// matrix; base ~ N(0, 0.02), delta ~ N(0, s_r) with a per-row RMS over one
// decade, as deltacodec_make_pair draws it), encoded by ecsq::encode_rows at
// a few step sizes relative to the delta's RMS, on one thread by default.
// Prints, per step, the user CPU seconds of the best of REPS runs, ns/param,
// the payload bytes and an XXH3 of the payload + err2 + ref2: a change that
// must not alter the bytes (a faster encoder) shows the same fingerprints.
//
//   deltacodec_ecsq_encode [--rows N] [--cols N] [--threads N] [--reps N] [--steps 0.5,2,0.004]
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "codec/codec.hpp"
#include "fast_rng.hpp"
#include "format/container.hpp"
#include "io/dtype.hpp"
#include "io/parallel.hpp"
#include "methods/ecsq.hpp"

using namespace deltacodec;

namespace {

double user_seconds() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec) + 1e-6 * static_cast<double>(ru.ru_utime.tv_usec);
}

std::vector<double> parse_list(const std::string& v) {
    std::vector<double> out;
    for (size_t p = 0; p < v.size();) {
        const size_t c = v.find(',', p);
        out.push_back(std::stod(v.substr(p, c - p)));
        p = c == std::string::npos ? v.size() : c + 1;
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    uint64_t rows = 4096, cols = 11008, threads = 1, reps = 3;
    // ≈ 2.7, 0.8 and 11 bits/param on this delta; the last one codes escapes.
    std::vector<double> steps = {0.5, 2, 0.004};
    const std::pair<const char*, uint64_t*> counts[] = {
        {"--rows", &rows}, {"--cols", &cols}, {"--threads", &threads}, {"--reps", &reps}};
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        auto it = std::find_if(std::begin(counts), std::end(counts), [&](const auto& c) { return a == c.first; });
        if (it != std::end(counts)) {
            *it->second = std::stoull(v);
        } else if (a == "--steps") {
            steps = parse_list(v);
        } else {
            std::fprintf(stderr, "unknown option %s\n", a.c_str());
            return 2;
        }
    }
    try {
        std::vector<uint16_t> b(rows * cols), f(rows * cols);
        double d2 = 0;
        for (uint64_t r = 0; r < rows; ++r) {
            FastRng rng(0x5EED0000 + r);
            const float s = 1e-3f * std::pow(10.0f, rng.uniform() - 0.5f);
            for (uint64_t j = 0; j < cols; ++j) {
                const uint64_t i = r * cols + j;
                b[i] = f32_to_f16(0.02f * rng.normal());
                f[i] = f32_to_f16(f16_to_f32(b[i]) + s * rng.normal());
                const double d = static_cast<double>(f16_to_f32(f[i])) - f16_to_f32(b[i]);
                d2 += d * d;
            }
        }
        const double rms = std::sqrt(d2 / static_cast<double>(rows * cols));
        const DeltaView dv{b.data(), DType::F16, f.data(), DType::F16, rows, cols};
        const ecsq::RowReader read = [&dv](uint64_t r, float* d, float* tmp) { dv.read_rows(r, 1, d, tmp); };
        ThreadPool pool(static_cast<unsigned>(threads));
        std::printf("ecsq encode_rows: %llu x %llu fp16, delta RMS %.3g, %u thread(s), best of %llu (user CPU s)\n",
                    static_cast<unsigned long long>(rows), static_cast<unsigned long long>(cols), rms, pool.size(),
                    static_cast<unsigned long long>(reps));
        std::printf("%10s %10s %10s %12s %18s\n", "step/RMS", "user s", "ns/param", "bytes", "fingerprint");
        for (const double sr : steps) {
            const float step = static_cast<float>(sr * rms);
            double best = 1e30;
            uint64_t bytes = 0, fp = 0;
            for (uint64_t k = 0; k < reps; ++k) {
                Scratch scratch;
                EncodeContext ec{pool, scratch, nullptr};
                const double t0 = user_seconds();
                const auto code =
                    ecsq::encode_rows(rows, cols, ecsq::rows_per_chunk(rows, cols), step, false, read, ec);
                best = std::min(best, user_seconds() - t0);
                if (!code) throw Error("the delta is not finite");
                ByteWriter w;
                (*code)->write(w);
                const double e[2] = {(*code)->err2, (*code)->ref2};
                w.bytes(reinterpret_cast<const uint8_t*>(e), sizeof e);
                bytes = w.buf.size();
                fp = xxh3(w.buf.data(), w.buf.size());
            }
            std::printf("%10g %10.3f %10.2f %12llu %018llx\n", sr, best, 1e9 * best / static_cast<double>(rows * cols),
                        static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(fp));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
