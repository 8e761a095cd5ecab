// deltacodec_bench_kernels — Google Benchmark cases for every kernel of the
// pipeline, reported as bytes/second (SetBytesProcessed).
//
// What "bytes" means per case (so the MB/s are comparable across kernels):
//   transforms            f32 patch data in (p*p*4 per patch)
//   quantize/dequantize   f32 coefficients (4 per coefficient)
//   pack/unpack           one byte per code (the unpacked side)
//   f16/bf16 conversions  the 16-bit side (2 per element: checkpoint bytes)
//   encode/decode/rebuild fine-tuned checkpoint bytes of the tensor (fp16: 2 per parameter)
//   memcpy                bytes copied (the yardstick for memory bandwidth)
// Run with --benchmark_filter=REGEX to pick cases; `make bench` runs them all.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "codec/codec.hpp"
#include "codec/quantize.hpp"
#include "codec/transform.hpp"
#include "fast_rng.hpp"
#include "io/dtype.hpp"
#include "io/parallel.hpp"

using namespace deltacodec;

namespace {

constexpr size_t kN = size_t(1) << 20;  // elements per buffer for the element-wise kernels

std::vector<float> normal_floats(size_t n, float sigma, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.f, sigma);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

std::vector<uint8_t> random_codes(size_t n, int bits, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    const uint32_t mask = (1u << bits) - 1;
    for (auto& x : v) x = static_cast<uint8_t>(rng() & mask);
    return v;
}

// ---- transforms: a batch of patches (~1 MiB of f32) per iteration -------------

using MakeFn = std::unique_ptr<Transform> (*)(int);

template <bool Forward>
void run_transform(benchmark::State& st, MakeFn make) {
    const int p = static_cast<int>(st.range(0));
    const size_t p2 = size_t(p) * p;
    const size_t patches = std::max<size_t>(1, (size_t(1) << 18) / p2);
    auto tr = make(p);
    auto in = normal_floats(patches * p2, 1e-3f, 1);
    std::vector<float> out(patches * p2), scratch(p2);
    for (auto _ : st) {
        for (size_t k = 0; k < patches; ++k) {
            if constexpr (Forward)
                tr->forward(in.data() + k * p2, out.data() + k * p2, scratch.data());
            else
                tr->inverse(in.data() + k * p2, out.data() + k * p2, scratch.data());
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(patches * p2 * sizeof(float)));
}

void BM_DCT_Forward(benchmark::State& st) { run_transform<true>(st, make_dct); }
void BM_DCT_Inverse(benchmark::State& st) { run_transform<false>(st, make_dct); }
void BM_Haar_Forward(benchmark::State& st) { run_transform<true>(st, make_haar); }
void BM_Haar_Inverse(benchmark::State& st) { run_transform<false>(st, make_haar); }
BENCHMARK(BM_DCT_Forward)->Arg(8)->Arg(16)->Arg(32)->Arg(64);
BENCHMARK(BM_DCT_Inverse)->Arg(8)->Arg(16)->Arg(32)->Arg(64);
BENCHMARK(BM_Haar_Forward)->Arg(16)->Arg(64);
BENCHMARK(BM_Haar_Inverse)->Arg(16)->Arg(64);

// The O(p^4) references, one patch per iteration (fast vs reference at p = 32;
// Haar at p = 64, the default).
template <void (*Fn)(const float*, float*, int)>
void run_reference(benchmark::State& st) {
    const int p = static_cast<int>(st.range(0));
    const size_t p2 = size_t(p) * p;
    auto in = normal_floats(p2, 1e-3f, 2);
    std::vector<float> out(p2);
    for (auto _ : st) {
        Fn(in.data(), out.data(), p);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(p2 * sizeof(float)));
}
void BM_DCT_Forward_Ref(benchmark::State& st) { run_reference<dct2_reference>(st); }
void BM_DCT_Inverse_Ref(benchmark::State& st) { run_reference<idct2_reference>(st); }
void BM_Haar_Forward_Ref(benchmark::State& st) { run_reference<haar2_reference>(st); }
void BM_Haar_Inverse_Ref(benchmark::State& st) { run_reference<ihaar2_reference>(st); }
BENCHMARK(BM_DCT_Forward_Ref)->Arg(32);
BENCHMARK(BM_DCT_Inverse_Ref)->Arg(32);
BENCHMARK(BM_Haar_Forward_Ref)->Arg(64);
BENCHMARK(BM_Haar_Inverse_Ref)->Arg(64);

// ---- quantize / dequantize ----------------------------------------------------

template <bool Ref>
void BM_Quantize_impl(benchmark::State& st) {
    const int bits = static_cast<int>(st.range(0));
    auto c = normal_floats(kN, 1e-3f, 3);
    std::vector<uint8_t> q(kN);
    for (auto _ : st) {
        if constexpr (Ref)
            quantize_ref(c.data(), kN, bits, -4e-3f, 4e-3f, q.data());
        else
            quantize(c.data(), kN, bits, -4e-3f, 4e-3f, q.data());
        benchmark::DoNotOptimize(q.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(kN * sizeof(float)));
}
template <bool Ref>
void BM_Dequantize_impl(benchmark::State& st) {
    const int bits = static_cast<int>(st.range(0));
    auto q = random_codes(kN, bits, 4);
    std::vector<float> c(kN);
    for (auto _ : st) {
        if constexpr (Ref)
            dequantize_ref(q.data(), kN, bits, -4e-3f, 4e-3f, c.data());
        else
            dequantize(q.data(), kN, bits, -4e-3f, 4e-3f, c.data());
        benchmark::DoNotOptimize(c.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(kN * sizeof(float)));
}
void BM_Quantize(benchmark::State& st) { BM_Quantize_impl<false>(st); }
void BM_Quantize_Ref(benchmark::State& st) { BM_Quantize_impl<true>(st); }
void BM_Dequantize(benchmark::State& st) { BM_Dequantize_impl<false>(st); }
void BM_Dequantize_Ref(benchmark::State& st) { BM_Dequantize_impl<true>(st); }
BENCHMARK(BM_Quantize)->Arg(2)->Arg(4);
BENCHMARK(BM_Quantize_Ref)->Arg(2)->Arg(4);
BENCHMARK(BM_Dequantize)->Arg(2)->Arg(4);
BENCHMARK(BM_Dequantize_Ref)->Arg(2)->Arg(4);

// ---- bit packing --------------------------------------------------------------

template <bool Ref>
void BM_Pack_impl(benchmark::State& st) {
    const int bits = static_cast<int>(st.range(0));
    auto codes = random_codes(kN, bits, 5);
    std::vector<uint8_t> out(packed_size(kN, bits));
    for (auto _ : st) {
        if constexpr (Ref)
            pack_bits_ref(codes.data(), kN, bits, out.data());
        else
            pack_bits(codes.data(), kN, bits, out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(kN));
}
template <bool Ref>
void BM_Unpack_impl(benchmark::State& st) {
    const int bits = static_cast<int>(st.range(0));
    auto codes = random_codes(kN, bits, 6);
    std::vector<uint8_t> packed(packed_size(kN, bits));
    pack_bits_ref(codes.data(), kN, bits, packed.data());
    std::vector<uint8_t> out(kN);
    for (auto _ : st) {
        if constexpr (Ref)
            unpack_bits_ref(packed.data(), kN, bits, out.data());
        else
            unpack_bits(packed.data(), kN, bits, out.data());
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(kN));
}
void BM_Pack(benchmark::State& st) { BM_Pack_impl<false>(st); }
void BM_Pack_Ref(benchmark::State& st) { BM_Pack_impl<true>(st); }
void BM_Unpack(benchmark::State& st) { BM_Unpack_impl<false>(st); }
void BM_Unpack_Ref(benchmark::State& st) { BM_Unpack_impl<true>(st); }
BENCHMARK(BM_Pack)->Arg(1)->Arg(2)->Arg(3)->Arg(4)->Arg(8);
BENCHMARK(BM_Pack_Ref)->Arg(2);
BENCHMARK(BM_Unpack)->Arg(1)->Arg(2)->Arg(3)->Arg(4)->Arg(8);
BENCHMARK(BM_Unpack_Ref)->Arg(2);

// ---- dtype conversions (arg 0 = F16, 1 = BF16) --------------------------------

DType half_type(int64_t a) { return a == 0 ? DType::F16 : DType::BF16; }

void BM_Half_To_F32(benchmark::State& st) {
    const DType t = half_type(st.range(0));
    st.SetLabel(std::string(dtype_name(t)) + "->f32");
    auto f = normal_floats(kN, 0.02f, 7);
    std::vector<uint16_t> h(kN);
    from_f32(t, f.data(), h.data(), kN);
    for (auto _ : st) {
        to_f32(t, h.data(), f.data(), kN);
        benchmark::DoNotOptimize(f.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(kN * 2));
}
void BM_F32_To_Half(benchmark::State& st) {
    const DType t = half_type(st.range(0));
    st.SetLabel("f32->" + std::string(dtype_name(t)));
    auto f = normal_floats(kN, 0.02f, 8);
    std::vector<uint16_t> h(kN);
    for (auto _ : st) {
        from_f32(t, f.data(), h.data(), kN);
        benchmark::DoNotOptimize(h.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(kN * 2));
}
BENCHMARK(BM_Half_To_F32)->Arg(0)->Arg(1);
BENCHMARK(BM_F32_To_Half)->Arg(0)->Arg(1);

// ---- memcpy: the memory-bandwidth yardstick ----------------------------------

void BM_Memcpy(benchmark::State& st) {
    const size_t n = size_t(64) << 20;
    std::vector<uint8_t> a(n, 1), b(n);
    for (auto _ : st) {
        std::memcpy(b.data(), a.data(), n);
        benchmark::DoNotOptimize(b.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(n));
}
BENCHMARK(BM_Memcpy)->Unit(benchmark::kMillisecond);

// ---- whole tensors: a 4096×4096 fp16 pair, realistic delta --------------------

// A Llama-2-7B q_proj-sized fp16 pair: base ~ N(0, 0.02), delta per row
// ~ N(0, s_r), s_r = 1e-3 x 10^(u - 1/2) (log-uniform over a decade).
struct TensorPair {
    static constexpr uint64_t R = 4096, C = 4096;
    std::vector<uint16_t> base, ft;
    TensorPair() : base(R * C), ft(R * C) {
        FastRng rng{42};
        std::vector<float> b(C), f(C);
        for (uint64_t r = 0; r < R; ++r) {
            const float s = 1e-3f * std::pow(10.f, rng.uniform() - 0.5f);
            for (uint64_t j = 0; j < C; ++j) {
                b[j] = 0.02f * rng.normal();
                f[j] = b[j] + s * rng.normal();
            }
            from_f32(DType::F16, b.data(), base.data() + r * C, C);
            from_f32(DType::F16, f.data(), ft.data() + r * C, C);
        }
    }
    DeltaView view() const { return DeltaView{base.data(), DType::F16, ft.data(), DType::F16, R, C}; }
    static const TensorPair& get() {
        static TensorPair p;
        return p;
    }
};

CodecParams params_for(int64_t method) {
    CodecParams cp;  // defaults: dwt p=64 ll_lh_hl 2:0.5,0:0.5
    if (method == 1) {
        cp.transform = TransformId::DCT;
        cp.bands = Bands::ALL;
        cp.patch = 32;
    }
    return cp;
}
std::string label_for(int64_t method, unsigned threads) {
    return std::string(method == 0 ? "dwt p=64" : "dct p=32") + " T=" + std::to_string(threads);
}

// Step 1 alone (ft − base in f32), single thread: part of every encode.
void BM_DeltaRead(benchmark::State& st) {
    const auto& tp = TensorPair::get();
    const DeltaView dv = tp.view();
    const uint64_t rows = 64;
    std::vector<float> out(rows * TensorPair::C), tmp(TensorPair::C);
    for (auto _ : st) {
        for (uint64_t r0 = 0; r0 < TensorPair::R; r0 += rows) {
            dv.read_rows(r0, rows, out.data(), tmp.data());
            benchmark::DoNotOptimize(out.data());
        }
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(TensorPair::R * TensorPair::C * 2));
}
BENCHMARK(BM_DeltaRead)->Unit(benchmark::kMillisecond);

// args: {method: 0 = dwt p=64 (default), 1 = dct p=32; threads}
void BM_EncodeTensor(benchmark::State& st) {
    const auto& tp = TensorPair::get();
    const CodecParams cp = params_for(st.range(0));
    const unsigned threads = static_cast<unsigned>(st.range(1));
    ThreadPool pool(threads);
    st.SetLabel(label_for(st.range(0), threads));
    size_t coded_bytes = 0;
    for (auto _ : st) {
        TensorStats stats;
        auto ct = encode_tensor(tp.view(), cp, pool, stats);
        coded_bytes = ct->codes.size() + ct->meta.size() + ct->selectors.size();
        benchmark::DoNotOptimize(ct);
    }
    st.counters["coded_MB"] = double(coded_bytes) / 1e6;
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(TensorPair::R * TensorPair::C * 2));
}

// decode_tensor alone: the sink only touches the strip.
void BM_DecodeTensor(benchmark::State& st) {
    const auto& tp = TensorPair::get();
    const CodecParams cp = params_for(st.range(0));
    const unsigned threads = static_cast<unsigned>(st.range(1));
    ThreadPool pool(threads);
    st.SetLabel(label_for(st.range(0), threads));
    TensorStats stats;
    const CodedTensor ct = *encode_tensor(tp.view(), cp, pool, stats);
    for (auto _ : st) {
        decode_tensor(ct, pool, [](uint64_t, uint64_t, const float* strip) { benchmark::DoNotOptimize(strip[0]); });
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(TensorPair::R * TensorPair::C * 2));
}

// decode_tensor + what a rebuild does with each strip: base row to f32, add,
// round to fp16 into the output tensor (the in-memory part of decompress).
void BM_RebuildTensor(benchmark::State& st) {
    const auto& tp = TensorPair::get();
    const CodecParams cp = params_for(st.range(0));
    const unsigned threads = static_cast<unsigned>(st.range(1));
    ThreadPool pool(threads);
    st.SetLabel(label_for(st.range(0), threads));
    TensorStats stats;
    const CodedTensor ct = *encode_tensor(tp.view(), cp, pool, stats);
    constexpr uint64_t C = TensorPair::C;
    std::vector<uint16_t> out(TensorPair::R * C);
    for (auto _ : st) {
        decode_tensor(ct, pool, [&](uint64_t r0, uint64_t nrows, const float* strip) {
            std::vector<float> row(C);
            for (uint64_t i = 0; i < nrows; ++i) {
                to_f32(DType::F16, tp.base.data() + (r0 + i) * C, row.data(), C);
                const float* d = strip + i * C;
                for (uint64_t j = 0; j < C; ++j) row[j] += d[j];
                from_f32(DType::F16, row.data(), out.data() + (r0 + i) * C, C);
            }
        });
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    st.SetBytesProcessed(int64_t(st.iterations()) * int64_t(TensorPair::R * C * 2));
}

void tensor_args(benchmark::internal::Benchmark* b) {
    for (int64_t m : {0, 1})
        for (int64_t t : {1, 2}) b->Args({m, t});
    b->Unit(benchmark::kMillisecond)->UseRealTime();
}
BENCHMARK(BM_EncodeTensor)->Apply(tensor_args);
BENCHMARK(BM_DecodeTensor)->Apply(tensor_args);
BENCHMARK(BM_RebuildTensor)->Apply(tensor_args);

}  // namespace

BENCHMARK_MAIN();
