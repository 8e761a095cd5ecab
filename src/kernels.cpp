// deltacodec — run-time kernel selection.
#include "kernels.hpp"

#include <cstdlib>
#include <cstring>

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

const Kernels* avx2_kernels() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return &avx2_impl::table;
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
