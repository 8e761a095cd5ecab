"""OpenBLAS kernel choice, shared by the package and the evaluation harness (eval/torch_env.py
loads this file by path, so it must import nothing but the standard library)."""
from __future__ import annotations

import os


def pick_blas_core() -> None:
    """OPENBLAS_CORETYPE from this CPU's instruction sets, unless it is set.

    OpenBLAS chooses its kernels when it is loaded; Debian 12's does not know
    recent cores and falls back to its slowest. The same rule as the CLI's
    (include/deltacodec/blas_core.hpp); it only helps when OpenBLAS is not
    loaded yet (import deltacodec before numpy, or set the variable yourself).
    """
    if "OPENBLAS_CORETYPE" in os.environ:
        return
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return
    have = set(flags)
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= have:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif {"avx2", "fma"} <= have:
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"
