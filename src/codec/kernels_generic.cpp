// deltacodec — baseline kernels (any CPU).
#define DC_NS generic_impl
#define DC_NAME "generic"
#include "codec/kernels_impl.inc"
