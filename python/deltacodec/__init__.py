"""Store a fine-tuned model as a small compressed delta (``.dcx``) against its base, and rebuild it.

The functions:

- :func:`compress` -- a fine-tune (a ``.safetensors`` file, a Hugging Face model
  directory, or a dict of numpy arrays) and its base into a ``.dcx`` file.
- :func:`decompress` -- the base and a ``.dcx`` file back into the fine-tune's files.
- :func:`load` -- the base and a ``.dcx`` file into a dict of numpy arrays, in memory.
- :func:`info` -- what a ``.dcx`` file holds, verified, without the base.
- :func:`compress_options` -- the compress options (the same table as the CLI's flags).

Paths may be ``str``, ``bytes`` or any ``os.PathLike`` (``pathlib.Path``); names
that are not UTF-8 are passed to the file system as they are. Errors raise
:class:`Error` subclasses that are also ``ValueError`` (bad options, bad or
corrupt input, a mismatched base) or ``OSError`` (a missing input, an output
that exists, a failed read or write). The work runs in C++ without the GIL;
Ctrl-C arrives as KeyboardInterrupt when a call returns (decompress and load
with a progress callback stop at the next tensor). Documentation: docs/API.md.
"""

from __future__ import annotations

import errno as _errno
import os
from collections.abc import Mapping
from typing import Any, Callable, Dict, List, NamedTuple, Optional


from ._blas import pick_blas_core as _pick_blas_core  # noqa: E402  (stdlib only)

_pick_blas_core()

import numpy as np  # noqa: E402  (after the BLAS core is chosen)

from . import _deltacodec as _native

__version__: str = _native.__version__

__all__ = [
    "compress",
    "decompress",
    "load",
    "info",
    "compress_options",
    "Progress",
    "Error",
    "OptionError",
    "InputError",
    "MismatchError",
    "FileError",
    "NotFoundError",
    "OutputExistsError",
    "__version__",
]


# ---- exceptions -------------------------------------------------------------


class Error(Exception):
    """Base class of every error deltacodec raises for its inputs, options and outputs.

    ``str(e)`` is one line that names the file or tensor and says what is wrong;
    names read from files are escaped (control characters and bytes that are not
    UTF-8 appear as ``\\xNN``). A failed call leaves no output file behind.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class OptionError(Error, ValueError):
    """A bad option value or combination, e.g. ``patch=12`` or ``bands`` with ``method='dct'``."""


class InputError(Error, ValueError):
    """An input deltacodec refuses: not a valid checkpoint or ``.dcx`` (corrupt,
    truncated, hostile), content it cannot store, or a symbolic link inside a model
    directory without ``follow_symlinks=True``."""


class MismatchError(Error, ValueError):
    """Inputs that do not belong together: a ``.dcx`` made against another base, or
    a base and fine-tune that share no tensor."""


class FileError(Error, OSError):
    """A file operation failed; ``errno`` says why (``EACCES``, ``ENOSPC``, ...)."""


class NotFoundError(FileError, FileNotFoundError):
    """An input, or the folder of an output, does not exist."""


class OutputExistsError(FileError, FileExistsError):
    """The output exists and ``overwrite`` is False, or it may not be replaced even
    with ``overwrite=True`` (a symbolic link, a directory holding other files, an input)."""


_BY_KIND = {"option": OptionError, "invalid": InputError, "mismatch": MismatchError}


def _convert(e: Exception) -> Error:
    """The Error subclass for a NativeError of the compiled module."""
    msg = str(e)
    kind = getattr(e, "kind", "invalid")
    code = getattr(e, "errno", 0)
    if kind == "exists":
        err: Error = OutputExistsError(msg)
        code = code or _errno.EEXIST
    elif kind == "system":
        err = NotFoundError(msg) if code == _errno.ENOENT else FileError(msg)
    else:
        return _BY_KIND.get(kind, Error)(msg)
    err.errno = code
    err.strerror = os.strerror(code) if code else None
    return err


def _call(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        return fn(*args)
    except _native.NativeError as e:
        raise _convert(e) from None


# ---- arguments --------------------------------------------------------------


def _path(p: Any, what: str) -> bytes:
    """A path argument as the bytes the file system takes (os.fsencode)."""
    try:
        return os.fsencode(p)
    except TypeError:
        raise TypeError(f"{what} must be a path (str, bytes or os.PathLike), not {type(p).__name__}") from None
    except UnicodeEncodeError as e:
        raise InputError(f"{what} {p!r} cannot be encoded for the file system: {e.reason}") from None


def _flag(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"argument '{what}' must be bool, not {type(v).__name__}")
    return v


def _threads(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"argument 'threads' must be int, not {type(v).__name__}")
    return v


# numpy dtype name -> safetensors dtype. 'bfloat16' is ml_dtypes' numpy type, when installed.
_ST_DTYPE = {
    "float16": "F16",
    "float32": "F32",
    "float64": "F64",
    "bfloat16": "BF16",
    "int8": "I8",
    "uint8": "U8",
    "int16": "I16",
    "uint16": "U16",
    "int32": "I32",
    "uint32": "U32",
    "int64": "I64",
    "uint64": "U64",
    "bool": "BOOL",
    "complex64": "C64",
}


def _tensors(d: Mapping[str, Any], what: str) -> List[tuple]:
    """A dict of arrays as (name, safetensors dtype, shape, C-contiguous little-endian array) tuples."""
    out = []
    for name, v in d.items():
        if not isinstance(name, str):
            raise TypeError(f"{what}: tensor names must be str, not {type(name).__name__}")
        st = None
        if isinstance(v, tuple):
            if len(v) != 2 or not isinstance(v[1], str):
                raise TypeError(f"{what}['{name}']: a tuple value is (array, safetensors dtype name), e.g. (a, 'BF16')")
            v, st = v
        a = np.asarray(v)
        if st is None:
            st = _ST_DTYPE.get(a.dtype.name)
            if st is None:
                raise TypeError(
                    f"{what}['{name}']: numpy dtype {a.dtype} has no safetensors dtype; "
                    "pass (array, 'BF16') and the like to name one"
                )
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        out.append((name, st, tuple(int(n) for n in a.shape), np.ascontiguousarray(a)))
    return out


def _side(x: Any, what: str) -> Any:
    return _tensors(x, what) if isinstance(x, Mapping) else _path(x, what)


class Progress(NamedTuple):
    """Where a call is, given to its ``progress`` callback as the work advances:
    once at the start, inside large tensors, and once at the end (at most about
    1,000 calls a run, never two at once).

    Read the fields by name; later versions may add fields at the end.
    """

    done: int
    """Tensors finished so far."""
    total: int
    """Tensors in all."""
    name: str
    """The tensor being worked on (the last one, at the end)."""
    bytes_done: int
    """Bytes of tensor data done so far."""
    bytes_total: int
    """Bytes of tensor data in all."""


def _progress(cb: Optional[Callable[[Progress], Any]]) -> Optional[Callable[[int, int, str, int, int], None]]:
    if cb is None:
        return None
    if not callable(cb):
        raise TypeError(f"progress must be callable, not {type(cb).__name__}")
    return lambda done, total, name, bytes_done, bytes_total: cb(Progress(done, total, name, bytes_done, bytes_total))


# ---- the API ----------------------------------------------------------------


def compress(base, finetuned, out, *, progress=None, **options) -> Dict[str, Any]:
    return _call(
        _native.compress,
        _side(base, "base"),
        _side(finetuned, "finetuned"),
        _path(out, "out"),
        options,
        _progress(progress),
    )


def decompress(
    base, dcx, out, *, threads: int = 0, overwrite: bool = False, follow_symlinks: bool = False, progress=None
) -> Dict[str, Any]:
    """Rebuild the fine-tuned checkpoint from its base and a ``.dcx`` file.

    Parameters
    ----------
    base : str, bytes or os.PathLike
        The base checkpoint the ``.dcx`` was made against: a ``.safetensors``
        file or a Hugging Face model directory. Every base tensor the file uses
        is checked against its recorded fingerprint.
    dcx : str, bytes or os.PathLike
        The ``.dcx`` file.
    out : str, bytes or os.PathLike
        Where to write: a ``.safetensors`` file, or a model directory when the
        fine-tune was one (same shards, index, metadata and other files).
    threads : int, default 0
        Threads to use; 0 means every core. The output does not depend on it.
    overwrite : bool, default False
        Replace an existing output: a regular file, or a directory holding
        nothing but files this rebuild writes (a previous rebuild).
    follow_symlinks : bool, default False
        Read symbolic links inside a base model directory (needed for a
        Hugging Face cache ``snapshots/`` folder); refused otherwise.
    progress : callable, optional
        Called with a :class:`Progress` as the rebuild advances.

    Returns
    -------
    dict
        ``tensors`` (rebuilt), ``files`` (other files written, for a
        directory), ``bytes_written``, ``directory`` (bool).

    Raises
    ------
    MismatchError
        The base is not the one the ``.dcx`` was made against.
    InputError
        The ``.dcx`` or the base is corrupt, truncated or not a valid file.
    OutputExistsError
        ``out`` exists and ``overwrite`` is False, or it may not be replaced.
    NotFoundError, FileError
        An input is missing or a file operation failed.

    Examples
    --------
    >>> deltacodec.decompress("base.safetensors", "ft.dcx", "rebuilt.safetensors")
    {'tensors': 40, 'files': 0, 'bytes_written': 817964, 'directory': False}
    """
    return _call(
        _native.decompress,
        _path(base, "base"),
        _path(dcx, "dcx"),
        _path(out, "out"),
        _threads(threads),
        _flag(overwrite, "overwrite"),
        _flag(follow_symlinks, "follow_symlinks"),
        _progress(progress),
    )


def load(
    base, dcx, *, bf16: str = "float32", threads: int = 0, follow_symlinks: bool = False, progress=None
) -> Dict[str, np.ndarray]:
    """Rebuild the fine-tune's tensors in memory, as a dict of numpy arrays.

    The same values :func:`decompress` writes, without writing a file: each
    tensor is decoded band by band straight into the array returned for it
    (peak memory: the result plus about two tensors' working buffers).

    Parameters
    ----------
    base : str, bytes or os.PathLike
        The base checkpoint the ``.dcx`` was made against (a ``.safetensors``
        file or a Hugging Face model directory).
    dcx : str, bytes or os.PathLike
        The ``.dcx`` file.
    bf16 : {'float32', 'uint16'}, default 'float32'
        How to give BF16 tensors, which numpy has no type for: ``'float32'``
        widens them (exactly: every bfloat16 is a float32; twice the memory);
        ``'uint16'`` gives their raw bits, e.g. for
        ``torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)``.
    threads : int, default 0
        Threads to use; 0 means every core.
    follow_symlinks : bool, default False
        Read symbolic links inside a base model directory.
    progress : callable, optional
        Called with a :class:`Progress` as the rebuild advances.

    Returns
    -------
    dict of str to numpy.ndarray
        Every tensor of the fine-tune, in the file's order, with its shape and
        dtype: float16, float32, float64, int8 to int64, uint8 to uint64, bool,
        complex64; BF16 as chosen by ``bf16``; 8-bit floats (F8_E4M3, F8_E5M2,
        F8_E8M0) as uint8 holding their bits. Packed 4- and 6-bit floats are
        refused (use :func:`decompress`).

    Raises
    ------
    OptionError
        ``bf16`` or ``threads`` is not a valid value.
    MismatchError
        The base is not the one the ``.dcx`` was made against.
    InputError
        The ``.dcx`` or the base is corrupt, or a tensor has a packed dtype.
    NotFoundError, FileError
        An input is missing or cannot be read.

    Examples
    --------
    >>> tensors = deltacodec.load("base.safetensors", "ft.dcx")
    >>> tensors["classifier.weight"].dtype, tensors["classifier.weight"].shape
    (dtype('float16'), (10, 128))
    """
    if bf16 not in ("float32", "uint16"):
        raise OptionError(f"bf16={bf16!r} is not one of 'float32', 'uint16'")
    return _call(
        _native.load,
        _path(base, "base"),
        _path(dcx, "dcx"),
        bf16 == "float32",
        _threads(threads),
        _flag(follow_symlinks, "follow_symlinks"),
        _progress(progress),
    )


def info(dcx) -> Dict[str, Any]:
    """Read and fully verify a ``.dcx`` file, without its base.

    Parameters
    ----------
    dcx : str, bytes or os.PathLike
        The ``.dcx`` file.

    Returns
    -------
    dict
        ``file``, ``bytes``, ``producer``, ``options`` (as recorded, values
        as text), ``layout`` (``'file'`` or ``'directory'``), ``shards``,
        ``files`` (a directory's other files: name and bytes), ``tensors``
        (one dict each: ``name``, ``dtype``, ``shape``, ``kind`` --
        ``'coded'``, ``'exact'`` or ``'whole'`` --, ``stored_bytes``,
        ``bits_per_param``; coded ones also ``transform``, ``patch``,
        ``levels`` (db2, db4, cdf97), ``bands``, ``widths``, ``patches_per_width``), ``summary`` (``ratio``,
        ``bits_per_param``, ``bits_per_param_all``, ``delta_bytes``,
        ``tensors``), ``end`` (what compress recorded, e.g.
        ``end['stats']['rel_error']``; informative) and
        ``dropped_base_tensors``. Every string in it came from the file.

    Raises
    ------
    InputError
        The file is not a valid ``.dcx`` (framing, checksums, any record).
    NotFoundError, FileError
        The file is missing or cannot be read.

    Examples
    --------
    >>> round(deltacodec.info("ft.dcx")["summary"]["ratio"], 1)
    7.5
    """
    return _call(_native.info, _path(dcx, "dcx"))


def compress_options() -> List[Dict[str, Any]]:
    """The compress options, one dict per row of the library's option table.

    Returns
    -------
    list of dict
        Each with ``keyword`` (the :func:`compress` keyword), ``cli`` (the CLI
        flag), ``json`` (the key recorded in the ``.dcx``, or None for a run
        setting), ``kind`` (``'text'``, ``'int'``, ``'number'`` or ``'flag'``),
        ``default`` (as text), ``record_default`` (whether the ``.dcx`` records
        the key at its default too; otherwise only when set), ``choices``,
        ``only`` (where it applies) and ``help``.

    Examples
    --------
    >>> [o["keyword"] for o in deltacodec.compress_options()][:3]
    ['method', 'patch', 'bits']
    """
    return _native.compress_options()


def _option_doc(row: Dict[str, Any]) -> str:
    kind = {"int": "int", "number": "float", "flag": "bool", "text": "str"}[row["kind"]]
    if row["kind"] in ("int", "number"):
        default = row["default"]
    elif row["kind"] == "flag":
        default = "True" if row["default"] == "true" else "False"
    else:
        default = repr(row["default"])
    text = row["help"] + "."
    if row["choices"]:
        text += " One of " + ", ".join(repr(c) for c in row["choices"]) + "."
    if row["only"]:
        flag, _, value = row["only"].partition(" ")
        for r in _native.compress_options():
            if r["cli"] == flag:
                text += " With " + " or ".join(f"{r['keyword']}={v!r}" for v in value.split("|")) + " only."
    text += f" CLI: ``{row['cli']}``."
    return f"{row['keyword']} : {kind}, default {default}\n    {text}\n"


_COMPRESS_DOC = """Compress a fine-tuned checkpoint against its base into a ``.dcx`` file.

Parameters
----------
base : str, bytes, os.PathLike or dict of str to numpy.ndarray
    The base checkpoint: a ``.safetensors`` file, a Hugging Face model
    directory, or its tensors in memory (a dict name -> array, read in place).
    Keep it: the ``.dcx`` rebuilds only against these exact tensors.
finetuned : str, bytes, os.PathLike or dict of str to numpy.ndarray
    The fine-tuned checkpoint, in the same forms. A directory gives a ``.dcx``
    that rebuilds a directory; a dict, one ``.safetensors`` file. Array
    dtypes: float16, float32, float64, int8 to int64, uint8 to uint64, bool,
    complex64, ml_dtypes' bfloat16. A value may be a pair ``(array, dtype)``
    naming the safetensors dtype its bytes hold, e.g. ``(a_uint16, 'BF16')``
    for bfloat16 bits (as :func:`load` gives them with ``bf16='uint16'``).
out : str, bytes or os.PathLike
    The ``.dcx`` file to write (under a temporary name, renamed at the end).
progress : callable, optional
    Called with a :class:`Progress` as the work advances. It runs on
    a worker thread (holding the GIL); an exception it raises ends the call.

Other Parameters
----------------
{options}
Returns
-------
dict
    The report: ``summary`` (``ratio``: delta bytes at the fine-tune's dtypes
    / ``.dcx`` bytes; ``bits_per_param``; ``rel_error`` = ||D' - D|| / ||D||
    over compressed tensors; tensor counts), ``options`` (as recorded in the
    file), ``tensors`` (one dict per tensor: kind, reason, bytes, error) and
    ``dropped_base_tensors``.

Raises
------
TypeError
    An unknown keyword, or a value of the wrong type.
OptionError
    A bad option value or combination.
MismatchError
    The base and the fine-tune share no 2-D float tensor (unrelated models).
InputError
    An input is not a valid checkpoint, or holds what a ``.dcx`` cannot.
OutputExistsError
    ``out`` exists and ``overwrite`` is False, or it is an input.
NotFoundError, FileError
    An input is missing, or reading or writing failed.

Examples
--------
>>> report = deltacodec.compress("base.safetensors", "ft.safetensors", "ft.dcx",
...                              method="dct", patch=32, bits="4:0.34,2:0.33,0:0.33")
>>> report["summary"]["ratio"] > 1
True
"""

compress.__doc__ = _COMPRESS_DOC.format(options="".join(_option_doc(r) for r in _native.compress_options()))
