// deltacodec — AVX2 + F16C kernels (this file is compiled with -mavx2 -mf16c;
// it is only called after a run-time CPU check).
#if defined(__x86_64__) || defined(__i386__)
#define DC_NS avx2_impl
#define DC_NAME "avx2"
#define DC_F16C 1
#include "codec/kernels_impl.inc"
#endif
