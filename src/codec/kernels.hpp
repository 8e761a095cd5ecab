// deltacodec (internal) — hot loops, compiled twice: for baseline x86-64 (or any
// CPU) and for AVX2+F16C, chosen once at run time. Both builds compute
// bit-identical results (no FMA contraction, no reassociation), which
// tests/test_kernels.cpp checks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace deltacodec {

struct Kernels {
    const char* name;
    void (*f16_to_f32)(const uint16_t* src, float* dst, size_t n);
    void (*f32_to_f16)(const float* src, uint16_t* dst, size_t n);
    void (*bf16_to_f32)(const uint16_t* src, float* dst, size_t n);
    void (*f32_to_bf16)(const float* src, uint16_t* dst, size_t n);
    /// out = a · b, p×p row-major.
    void (*matmul)(const float* a, const float* b, float* out, int p);
    void (*haar_forward)(const float* in, float* out, float* tmp, int p);
    void (*haar_inverse)(const float* in, float* out, float* tmp, int p);
    void (*quantize)(const float* c, size_t n, int bits, float lo, float hi, uint8_t* q);
    void (*dequantize)(const uint8_t* q, size_t n, int bits, float lo, float hi, float* c);
    /// out[i] = a[i] - b[i]
    void (*sub)(const float* a, const float* b, float* out, size_t n);
    /// out[i] = a[i] + b[i]
    void (*add)(const float* a, const float* b, float* out, size_t n);
    /// The rebuild of one row in one pass: out[i] = f16(f32(base[i]) + d[i]), the
    /// same bits as f16_to_f32, add and f32_to_f16 in turn (and likewise for bf16).
    void (*f16_add)(const uint16_t* base, const float* d, uint16_t* out, size_t n);
    void (*bf16_add)(const uint16_t* base, const float* d, uint16_t* out, size_t n);
    /// Σ x², accumulated in 8 float lanes in a fixed order, then summed in double.
    double (*sum_sq)(const float* x, size_t n);
    /// Σ (a − b)², same accumulation order.
    double (*sq_diff_sum)(const float* a, const float* b, size_t n);
    /// Smallest and largest value (n ≥ 1, finite values).
    void (*minmax)(const float* x, size_t n, float* lo, float* hi);
    /// Fast DCT-II along the first axis of an N×L row-major block (N a power of
    /// two), in place, unnormalized: X_k = Σ_n x_n cos(π(2n+1)k/2N). Lee's
    /// recursion; `c` holds 1/(2cos(π(2n+1)/2N)) for N, then N/2, … ; s: N·L floats.
    void (*dct_rows)(float* x, int n, int l, float* s, const float* c);
    /// Its transpose: y_n = Σ_k X_k cos(π(2n+1)k/2N).
    void (*dct_rows_t)(float* x, int n, int l, float* s, const float* c);
    void (*transpose)(const float* in, float* out, int p);
    /// False if any value is NaN or infinite.
    bool (*all_finite)(const float* x, size_t n);
};

/// The best kernels this CPU runs (DELTACODEC_KERNELS=generic forces the baseline).
const Kernels& kernels();
const Kernels& generic_kernels();
/// nullptr when the CPU lacks AVX2/F16C.
const Kernels* avx2_kernels();

}  // namespace deltacodec
