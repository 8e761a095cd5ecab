# Type stub of the deltacodec package (python/deltacodec/__init__.py). The keyword
# options of compress() are the rows of the library's option table
# (deltacodec.compress_options()); tests/python/test_package.py checks that this
# list matches it.
import os
from typing import Any, Callable, Dict, List, Literal, Mapping, NamedTuple, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

_Path = Union[str, bytes, os.PathLike[str], os.PathLike[bytes]]
_Tensor = Union[npt.ArrayLike, Tuple[npt.ArrayLike, str]]
_Source = Union[_Path, Mapping[str, _Tensor]]

class Progress(NamedTuple):
    done: int
    total: int
    name: str
    bytes_done: int
    bytes_total: int

_ProgressFn = Callable[[Progress], Any]

class Error(Exception): ...
class OptionError(Error, ValueError): ...
class InputError(Error, ValueError): ...
class MismatchError(Error, ValueError): ...
class FileError(Error, OSError): ...
class NotFoundError(FileError, FileNotFoundError): ...
class OutputExistsError(FileError, FileExistsError): ...

def compress(
    base: _Source,
    finetuned: _Source,
    out: _Path,
    *,
    progress: Optional[_ProgressFn] = ...,
    method: str = ...,
    patch: int = ...,
    bits: str = ...,
    bands: str = ...,
    levels: int = ...,
    quant_table: str = ...,
    importance: str = ...,
    range: str = ...,
    meta: str = ...,
    ecsq_bits: str = ...,
    ecsq_gain: str = ...,
    sparse_keep: str = ...,
    sparse_keep_frac: float = ...,
    sparse_bits: float = ...,
    sparse_gain: str = ...,
    rank: int = ...,
    rank_bits: int = ...,
    entropy: str = ...,
    lossless_coder: str = ...,
    include: str = ...,
    exclude: str = ...,
    bpp: float = ...,
    ratio: float = ...,
    rd_weight: str = ...,
    base_name: str = ...,
    threads: int = ...,
    overwrite: bool = ...,
    follow_symlinks: bool = ...,
) -> Dict[str, Any]: ...
def decompress(
    base: _Path,
    dcx: _Path,
    out: _Path,
    *,
    threads: int = ...,
    overwrite: bool = ...,
    follow_symlinks: bool = ...,
    progress: Optional[_ProgressFn] = ...,
) -> Dict[str, Any]: ...
def load(
    base: _Path,
    dcx: _Path,
    *,
    bf16: Literal["float32", "uint16"] = ...,
    threads: int = ...,
    follow_symlinks: bool = ...,
    progress: Optional[_ProgressFn] = ...,
) -> Dict[str, np.ndarray]: ...
def info(dcx: _Path) -> Dict[str, Any]: ...
def compress_options() -> List[Dict[str, Any]]: ...
