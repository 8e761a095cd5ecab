#!/usr/bin/python3
"""Writes the small deterministic input pairs behind the golden .dcx files.

The inputs and the .dcx files made from them by release 585bb33 (v1 writer) are
committed; tests/test_golden.cpp checks that today's code still decodes those
files to identical bytes and that compressing the inputs with the same options
still gives identical .dcx bytes. Run from this folder; needs only numpy.
"""
import json
import os
import struct

import numpy as np


def save(path, tensors, metadata=None):
    """tensors: list of (name, dtype, array) in data order; arrays already of that dtype's bits."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    pos = 0
    blobs = []
    for name, dt, a in tensors:
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [pos, pos + len(b)]}
        pos += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def bf16(x):
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    return ((u + ((u >> 16) & 1) + 0x7FFF) >> 16).astype(np.uint16)


def pair(rng, scale):
    w1 = rng.standard_normal((96, 80)).astype(np.float32) * 0.05
    w2 = rng.standard_normal((128, 64)).astype(np.float32) * 0.05
    b1 = (rng.standard_normal(80) * 0.01).astype(np.float16)
    cls = rng.standard_normal((10, 64)).astype(np.float32) * 0.05
    ids = np.arange(12, dtype=np.int64)
    u = rng.standard_normal((96, 4)).astype(np.float32)
    v = rng.standard_normal((4, 80)).astype(np.float32)
    d1 = (u @ v) * scale + rng.standard_normal((96, 80)).astype(np.float32) * scale * 0.2
    d2 = rng.standard_normal((128, 64)).astype(np.float32) * scale
    base = [("layer.0.w", "F32", w1), ("layer.0.b", "F16", b1), ("layer.1.w", "BF16", bf16(w2)),
            ("classifier.weight", "F32", cls), ("position_ids", "I64", ids),
            ("old.only", "F32", np.ones((4, 4), np.float32))]
    ft = [("layer.0.w", "F32", w1 + d1), ("layer.0.b", "F16", (b1 + np.float16(0.003))),
          ("layer.1.w", "BF16", bf16(w2 + d2)), ("classifier.weight", "F32", cls * 1.5),
          ("position_ids", "I64", ids), ("new.head", "F32", np.full((3, 5), 0.25, np.float32))]
    return base, ft


def main():
    rng = np.random.default_rng(20261127)
    base, ft = pair(rng, 0.01)
    save("tiny_base.safetensors", base, {"format": "pt"})
    save("tiny_ft.safetensors", ft, {"format": "pt", "note": "golden"})
    # A sharded directory pair: the fine-tune in two shards with an index and a config.
    os.makedirs("dir_base", exist_ok=True)
    os.makedirs("dir_ft", exist_ok=True)
    save("dir_base/model.safetensors", base, {"format": "pt"})
    save("dir_ft/model-00001-of-00002.safetensors", ft[:3], {"format": "pt"})
    save("dir_ft/model-00002-of-00002.safetensors", ft[3:], {"format": "pt"})
    wm = {n: "model-00001-of-00002.safetensors" for n, _, _ in ft[:3]}
    wm.update({n: "model-00002-of-00002.safetensors" for n, _, _ in ft[3:]})
    with open("dir_ft/model.safetensors.index.json", "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=2)
    with open("dir_ft/config.json", "w") as f:
        json.dump({"model_type": "golden", "hidden_size": 80}, f, indent=2)


if __name__ == "__main__":
    main()
