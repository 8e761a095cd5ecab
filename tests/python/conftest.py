"""Shared fixtures of the Python package's tests (run by ctest: tests/CMakeLists.txt).

ctest sets PYTHONPATH to the built package (build/python), DELTACODEC_SOURCE_DIR
and DELTACODEC_CLI.
"""
import json
import os
import struct

import numpy as np
import pytest

SRC = os.environ.get("DELTACODEC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
CLI = os.environ.get("DELTACODEC_CLI", "")
BASE = os.path.join(SRC, "examples", "base.safetensors")
FT = os.path.join(SRC, "examples", "finetuned.safetensors")

_DTYPES = {"F16": "<f2", "F32": "<f4", "F64": "<f8", "BF16": "<u2", "I8": "i1", "U8": "u1", "I16": "<i2",
           "U16": "<u2", "I32": "<i4", "U32": "<u4", "I64": "<i8", "U64": "<u8", "BOOL": "?"}


def read_safetensors(path):
    """A safetensors file as {name: (dtype name, array of its bytes' type)}, in file order."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"]):
        b, e = t["data_offsets"]
        a = np.frombuffer(data[8 + n + b:8 + n + e], dtype=_DTYPES[t["dtype"]]).reshape(t["shape"])
        out[name] = (t["dtype"], a)
    return out


def write_safetensors(path, tensors):
    """{name: (dtype name, array)} as a safetensors file without metadata, in the given order."""
    header, blobs, pos = {}, [], 0
    for name, (dt, a) in tensors.items():
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        blobs.append(b)
        pos += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def to_bf16_bits(x):
    """float32 values as bfloat16 bits (round to nearest even)."""
    u = np.asarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


@pytest.fixture(scope="session")
def bf16_pair():
    """A small related BF16/F32 pair as dicts {name: (dtype name, array)}: two coded 2-D tensors, a norm, a new head."""
    rng = np.random.default_rng(7)
    w0 = rng.normal(0, 0.02, (64, 96)).astype("<f4")
    w1 = rng.normal(0, 0.02, (64, 64)).astype("<f4")
    norm = rng.normal(1, 0.1, (64,)).astype("<f4")
    base = {"layer.0.weight": ("F32", w0), "layer.1.weight": ("BF16", to_bf16_bits(w1)), "layer.0.norm": ("F32", norm)}
    ft = {
        "layer.0.weight": ("F32", (w0 + rng.normal(0, 0.002, w0.shape)).astype("<f4")),
        "layer.1.weight": ("BF16", to_bf16_bits(w1 + rng.normal(0, 0.002, w1.shape))),
        "layer.0.norm": ("F32", (norm + rng.normal(0, 0.01, norm.shape)).astype("<f4")),
        "head.weight": ("F32", rng.normal(0, 0.1, (3, 64)).astype("<f4")),
    }
    return base, ft


def as_arg(tensors):
    """{name: (dtype name, array)} as compress() takes it: arrays, BF16 as (bits, 'BF16')."""
    return {k: ((a, "BF16") if dt == "BF16" else a) for k, (dt, a) in tensors.items()}
