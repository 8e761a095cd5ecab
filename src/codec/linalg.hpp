// deltacodec (internal) — dense linear algebra from the system's BLAS and LAPACK
// (OpenBLAS, Debian's libopenblas-dev): a GEMM, a QR that orthonormalises the
// columns of a tall matrix, and a thin SVD. Matrices are column-major, as LAPACK's.
//
// Determinism: a multithreaded BLAS may split a product differently with the
// thread count and so round differently. While a BlasOneThread is alive, BLAS
// runs on the calling thread only; callers that want parallelism split the work
// into blocks of a fixed size (never one that depends on the thread count) and
// run the blocks on the project's ThreadPool. Then the results depend on neither
// -T nor the machine's core count (they may still differ between CPUs or BLAS
// builds, whose kernels round differently).
#pragma once

#include <cstdint>

namespace deltacodec {

/// While alive, BLAS runs single-threaded (OpenBLAS: openblas_set_num_threads(1),
/// process-wide). Counted: the previous thread count comes back when the last
/// one alive ends, so a host program's own OpenBLAS use keeps its threads.
class BlasOneThread {
public:
    BlasOneThread();
    ~BlasOneThread();
    BlasOneThread(const BlasOneThread&) = delete;
    BlasOneThread& operator=(const BlasOneThread&) = delete;
};

/// C ← alpha·op(A)·op(B) + beta·C, column-major (cblas_sgemm); op(X) = Xᵀ when `tX`.
/// op(A) is m×k, op(B) k×n, C m×n. Dimensions and leading dimensions < 2^31.
void sgemm(bool tA, bool tB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda, const float* B,
           int64_t ldb, float beta, float* C, int64_t ldc);

/// Replaces the m×n column-major `a` (m ≥ n, lda = m) by an orthonormal basis
/// of its column space (Householder QR: LAPACK sgeqrf + sorgqr). Throws Error
/// when LAPACK reports a failure.
void orthonormalize(float* a, int64_t m, int64_t n);

/// Thin SVD of the m×n column-major `a` (m ≥ n, lda = m; destroyed): a = U·diag(s)·VT,
/// U m×n (ldu = m), s n values in decreasing order, VT n×n (ldvt = n). LAPACK
/// sgesdd. Throws Error when it fails (e.g. does not converge).
void thin_svd(float* a, int64_t m, int64_t n, float* s, float* U, float* VT);

}  // namespace deltacodec
