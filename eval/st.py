"""Minimal safetensors reader/writer (no dependency beyond numpy).

Format (https://github.com/huggingface/safetensors): 8-byte little-endian u64 N,
N bytes of UTF-8 JSON {name: {"dtype", "shape", "data_offsets": [b, e]}} plus an
optional "__metadata__" (str -> str), then the byte buffer. The writer pads the
header with spaces to a multiple of 8 so the data is 8-aligned.

Supports single files and Hugging Face model directories (model.safetensors, or
shards listed in model.safetensors.index.json). BF16 is handled as raw uint16 and
converted to/from float32 by bit manipulation.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, Tuple

import numpy as np

_NP = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U8": np.dtype("u1"), "U16": np.dtype("<u2"),
    "U32": np.dtype("<u4"), "U64": np.dtype("<u8"), "BOOL": np.dtype("?"),
    "BF16": np.dtype("<u2"),  # raw bits
}
_SIZE = {k: v.itemsize for k, v in _NP.items()}


def bf16_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def f32_to_bf16(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bf16 bits (uint16). NaN kept as NaN."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    rounding = ((u >> 16) & 1) + np.uint32(0x7FFF)
    out = ((u + rounding) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def read_header(path: str) -> Tuple[dict, int]:
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        if n > 100_000_000:
            raise ValueError(f"{path}: header too large ({n})")
        hdr = json.loads(f.read(n).decode("utf-8"))
    return hdr, 8 + n


def load_file(path: str, as_float32: bool = True) -> Dict[str, np.ndarray]:
    """Read one .safetensors file. With as_float32, F16/BF16 come back as float32."""
    hdr, start = read_header(path)
    size = os.path.getsize(path)
    out = {}
    with open(path, "rb") as f:
        buf = f.read()[start:]
    if start + len(buf) != size:
        raise ValueError("short read")
    for name, info in hdr.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * _SIZE[dt] or e > len(buf):
            raise ValueError(f"{path}: bad offsets for {name}")
        a = np.frombuffer(buf, dtype=_NP[dt], count=count, offset=b).reshape(shape)
        if dt == "BF16":
            a = bf16_to_f32(a) if as_float32 else a.copy()
        elif as_float32 and dt == "F16":
            a = a.astype(np.float32)
        else:
            a = a.copy()
        out[name] = a
    return out


def metadata(path: str) -> Dict[str, str]:
    p = _first_file(path)
    return read_header(p)[0].get("__metadata__", {}) or {}


def _first_file(path: str) -> str:
    if os.path.isdir(path):
        single = os.path.join(path, "model.safetensors")
        if os.path.exists(single):
            return single
        idx = json.load(open(os.path.join(path, "model.safetensors.index.json")))
        return os.path.join(path, sorted(set(idx["weight_map"].values()))[0])
    return path


def load(path: str, as_float32: bool = True) -> Dict[str, np.ndarray]:
    """Load a .safetensors file or a model directory (single file or shards)."""
    if not os.path.isdir(path):
        return load_file(path, as_float32)
    single = os.path.join(path, "model.safetensors")
    if os.path.exists(single):
        return load_file(single, as_float32)
    idx_path = os.path.join(path, "model.safetensors.index.json")
    if not os.path.exists(idx_path):
        raise FileNotFoundError(f"{path}: no model.safetensors or index")
    idx = json.load(open(idx_path))
    out = {}
    for shard in sorted(set(idx["weight_map"].values())):
        out.update(load_file(os.path.join(path, shard), as_float32))
    missing = set(idx["weight_map"]) - set(out)
    if missing:
        raise ValueError(f"{path}: tensors missing from shards: {sorted(missing)[:5]}")
    return out


def _encode(a: np.ndarray, dtype: str) -> bytes:
    if dtype == "BF16":
        return f32_to_bf16(np.asarray(a, dtype=np.float32)).tobytes()
    return np.ascontiguousarray(a, dtype=_NP[dtype]).tobytes()


def save_file(tensors: Dict[str, np.ndarray], path: str, dtype: str | None = None,
              meta: Dict[str, str] | None = None) -> int:
    """Write tensors (sorted by name). dtype forces a dtype for floating tensors
    ("F32", "F16", "BF16"); otherwise float32->F32, float16->F16. Returns bytes
    of tensor data."""
    hdr = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name])
        if dtype is not None and a.dtype.kind == "f":
            dt = dtype
        else:
            dt = {np.dtype("float32"): "F32", np.dtype("float16"): "F16",
                  np.dtype("float64"): "F64", np.dtype("int64"): "I64",
                  np.dtype("int32"): "I32", np.dtype("uint8"): "U8"}[a.dtype]
        data = _encode(a, dt)
        hdr[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    if meta:
        hdr["__metadata__"] = {str(k): str(v) for k, v in meta.items()}
    h = json.dumps(hdr, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)
    return off


def save_dir(tensors: Dict[str, np.ndarray], directory: str, config: dict,
             dtype: str | None = None, shards: int = 1,
             meta: Dict[str, str] | None = None) -> None:
    """Write a Hugging Face style model directory: config.json plus either
    model.safetensors or `shards` files model-0000i-of-0000N.safetensors with
    model.safetensors.index.json. Tensors are split into shards in name order,
    balancing bytes."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    if shards <= 1:
        save_file(tensors, os.path.join(directory, "model.safetensors"), dtype, meta)
        return
    names = sorted(tensors)
    itemsize = {"BF16": 2, "F16": 2, "F32": 4}.get(dtype or "F32", 4)
    sizes = [np.asarray(tensors[n]).size * itemsize for n in names]
    total = sum(sizes)
    groups = [[] for _ in range(shards)]
    acc = 0
    for n, s in zip(names, sizes):
        g = min(shards - 1, int(acc * shards // max(total, 1)))
        groups[g].append(n)
        acc += s
    weight_map = {}
    for i, g in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in g}, os.path.join(directory, fname), dtype, meta)
        for n in g:
            weight_map[n] = fname
    with open(os.path.join(directory, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2,
                  sort_keys=True)
        f.write("\n")


def checkpoint_bytes(path: str) -> int:
    """Bytes on disk of the safetensors files of a checkpoint (file or directory)."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path)
               if f.endswith(".safetensors"))
