// deltacodec — dense linear algebra through OpenBLAS (see linalg.hpp).
#include "codec/linalg.hpp"

#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "deltacodec/blas_core.hpp"
#include "deltacodec/error.hpp"

// LAPACK's Fortran entry points (OpenBLAS exports them; Debian builds it without
// LAPACKE). The trailing size_t is gfortran's hidden length of a CHARACTER argument.
extern "C" char* openblas_get_corename(void);

extern "C" {
void sgeqrf_(const int* m, const int* n, float* a, const int* lda, float* tau, float* work, const int* lwork,
             int* info);
void sorgqr_(const int* m, const int* n, const int* k, float* a, const int* lda, const float* tau, float* work,
             const int* lwork, int* info);
void sgesdd_(const char* jobz, const int* m, const int* n, float* a, const int* lda, float* s, float* u, const int* ldu,
             float* vt, const int* ldvt, float* work, const int* lwork, int* iwork, int* info, size_t jobz_len);
}

namespace deltacodec {
namespace {

std::mutex blas_mu;
int blas_users = 0, blas_threads_before = 1;

int as_int(int64_t v) {
    if (v < 0 || v > INT_MAX) throw Error("internal error: a matrix dimension does not fit BLAS's int");
    return static_cast<int>(v);
}

// LAPACK's workspace query (lwork = −1) returns the optimal size in work[0].
int work_size(float w) { return std::max(1, static_cast<int>(w) + 1); }

}  // namespace

BlasOneThread::BlasOneThread() {
    std::lock_guard<std::mutex> lk(blas_mu);
    if (blas_users++ == 0) {
        blas_threads_before = openblas_get_num_threads();
        openblas_set_num_threads(1);
    }
}

BlasOneThread::~BlasOneThread() {
    std::lock_guard<std::mutex> lk(blas_mu);
    if (--blas_users == 0) openblas_set_num_threads(blas_threads_before);
}

void sgemm(bool tA, bool tB, int64_t m, int64_t n, int64_t k, float alpha, const float* A, int64_t lda, const float* B,
           int64_t ldb, float beta, float* C, int64_t ldc) {
    if (m == 0 || n == 0) return;
    cblas_sgemm(CblasColMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans, as_int(m), as_int(n),
                as_int(k), alpha, A, as_int(lda), B, as_int(ldb), beta, C, as_int(ldc));
}

void orthonormalize(float* a, int64_t m64, int64_t n64) {
    const int m = as_int(m64), n = as_int(n64);
    if (n == 0) return;
    std::vector<float> tau(n);
    int info = 0, lwork = -1;
    float q1 = 0, q2 = 0;
    sgeqrf_(&m, &n, a, &m, tau.data(), &q1, &lwork, &info);
    sorgqr_(&m, &n, &n, a, &m, tau.data(), &q2, &lwork, &info);
    std::vector<float> work(std::max(work_size(q1), work_size(q2)));
    lwork = static_cast<int>(work.size());
    sgeqrf_(&m, &n, a, &m, tau.data(), work.data(), &lwork, &info);
    if (info != 0) throw Error("internal error: LAPACK sgeqrf failed (info " + std::to_string(info) + ")");
    sorgqr_(&m, &n, &n, a, &m, tau.data(), work.data(), &lwork, &info);
    if (info != 0) throw Error("internal error: LAPACK sorgqr failed (info " + std::to_string(info) + ")");
}

void thin_svd(float* a, int64_t m64, int64_t n64, float* s, float* U, float* VT) {
    const int m = as_int(m64), n = as_int(n64);
    if (n == 0) return;
    const char jobz = 'S';
    std::vector<int> iwork(8 * static_cast<size_t>(n));
    int info = 0, lwork = -1;
    float q = 0;
    sgesdd_(&jobz, &m, &n, a, &m, s, U, &m, VT, &n, &q, &lwork, iwork.data(), &info, 1);
    std::vector<float> work(work_size(q));
    lwork = static_cast<int>(work.size());
    sgesdd_(&jobz, &m, &n, a, &m, s, U, &m, VT, &n, work.data(), &lwork, iwork.data(), &info, 1);
    if (info != 0) throw Error("internal error: LAPACK sgesdd failed (info " + std::to_string(info) + ")");
}

const char* blas_core_name() { return openblas_get_corename(); }

const char* blas_core_upgrade() {
    // OpenBLAS's generic x86-64 fallbacks: what it picks for a core it does not know.
    const std::string_view now = blas_core_name();
    if (now != "Prescott" && now != "Core2" && now != "Nehalem" && now != "Sandybridge") return nullptr;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (now != "Sandybridge" && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return nullptr;
}

void reexec_for_blas_core(char** argv) {
    if (std::getenv("OPENBLAS_CORETYPE") || !argv || !argv[0]) return;
    const char* core = blas_core_upgrade();
    if (!core || ::setenv("OPENBLAS_CORETYPE", core, 0) != 0) return;
    ::execv("/proc/self/exe", argv);
    // exec failed (no /proc): keep the variable (it is set; no loop) and go on.
}

}  // namespace deltacodec
