// deltacodec — OpenBLAS's kernel choice on CPUs it does not know.
//
// OpenBLAS (DYNAMIC_ARCH, as Debian builds it) picks its kernels from cpuid when
// the library is loaded, before main(). Debian 12's 0.3.21 does not know recent
// cores (e.g. Intel Sapphire Rapids) and falls back to generic SSE3 kernels
// ("Prescott"): on this project's CI machine sgemm then runs at 9.6 GFLOP/s on
// one core where the SkylakeX kernels reach 65 (docs/BENCHMARKS.md), and
// lowrank's SVD is that much slower. OpenBLAS reads OPENBLAS_CORETYPE only when
// it loads, and the environment cannot be changed before that from inside the
// process; so the `deltacodec` executable, when OpenBLAS fell back and the user
// has not set the variable, sets it and executes itself again (once).
// Python's module sets it before it loads NumPy and the extension.
// The choice changes speed, and the rounding of lowrank's factors as any other
// BLAS build would; never the format.
#pragma once

namespace deltacodec {

/// The kernels OpenBLAS chose ("SkylakeX", "Haswell", "Prescott", ...).
const char* blas_core_name();
/// A better OpenBLAS core this CPU supports when OpenBLAS fell back to generic
/// kernels ("SkylakeX" with AVX-512 F/BW/DQ/VL, "Haswell" with AVX2 + FMA);
/// nullptr when it did not fall back or nothing better is known.
const char* blas_core_upgrade();
/// For an executable's main(): when blas_core_upgrade() has one and
/// OPENBLAS_CORETYPE is not set, sets it and executes /proc/self/exe with `argv`
/// again. Returns when there is nothing to do or the exec fails (then the
/// program goes on with the kernels it has).
void reexec_for_blas_core(char** argv);

}  // namespace deltacodec
