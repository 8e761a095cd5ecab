"""Process settings for the harness's PyTorch; import this module before torch or numpy.

- OMP_WAIT_POLICY=PASSIVE: OpenMP threads sleep instead of spinning while they wait. On the
  shared 2-core machine (load 8-12 from parallel builds) spinning made a 2-thread training step
  about 2.5x slower. Results are unchanged (same thread count, same work split).
- OPENBLAS_CORETYPE: Debian 12's OpenBLAS does not know recent cores and falls back to its
  slowest kernels (a 2048^3 float32 matmul in torch: 33 GFLOP/s as picked, 181 with SkylakeX on
  this machine). The rule is the package's own (python/deltacodec/_blas.py, loaded by path so
  the compiled module is not needed); a variable the user set is left alone.
"""
from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_BLAS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "python", "deltacodec", "_blas.py")
_spec = importlib.util.spec_from_file_location("_deltacodec_blas", _BLAS)
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
_mod.pick_blas_core()
