// deltacodec — run-time kernel selection.
#include "codec/kernels.hpp"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace deltacodec {
namespace generic_impl {
extern const Kernels table;
}
#if defined(__x86_64__) || defined(__i386__)
namespace avx2_impl {
extern const Kernels table;
}
#endif

const Kernels& generic_kernels() { return generic_impl::table; }

#if defined(__x86_64__) || defined(__i386__)
namespace {
// AVX2 and F16C, and an OS that saves the AVX (YMM) state. Read from CPUID
// directly: clang 14's __builtin_cpu_supports() does not know "f16c".
bool cpu_has_avx2_f16c() {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const bool f16c = c & (1u << 29), osxsave = c & (1u << 27), avx = c & (1u << 28);
    if (!f16c || !osxsave || !avx) return false;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));  // XCR0: bits 1 (SSE) and 2 (AVX) enabled
    if ((xlo & 0x6u) != 0x6u) return false;
    if (__get_cpuid_max(0, nullptr) < 7) return false;
    __cpuid_count(7, 0, a, b, c, d);
    return b & (1u << 5);  // AVX2
}
}  // namespace
#endif

const Kernels* avx2_kernels() {
#if defined(__x86_64__) || defined(__i386__)
    static const bool ok = cpu_has_avx2_f16c();
    if (ok) return &avx2_impl::table;
#endif
    return nullptr;
}

const Kernels& kernels() {
    static const Kernels* k = [] {
        const char* force = std::getenv("DELTACODEC_KERNELS");
        if (force && std::strcmp(force, "generic") == 0) return &generic_kernels();
        const Kernels* a = avx2_kernels();
        return a ? a : &generic_kernels();
    }();
    return *k;
}

}  // namespace deltacodec
