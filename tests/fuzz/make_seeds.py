#!/usr/bin/python3
"""Writes the hand-made seed inputs of the fuzz corpora (tests/fuzz/corpus/<target>/seed_*),
plus copies of the small golden files. Run from anywhere; rerunning rewrites the same bytes."""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "data", "golden")


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def st(header, data=b"", declared=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if declared is None else declared) + h + data


# safetensors: one tensor of each kind of dtype, scalars, empty tensors, metadata, odd headers.
put("safetensors", "seed_empty_header", st({}))
put("safetensors", "seed_metadata_only", st({"__metadata__": {"format": "pt", "k": "v"}}))
put("safetensors", "seed_dtypes", st({
    "a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
    "b": {"dtype": "BF16", "shape": [2], "data_offsets": [8, 12]},
    "c": {"dtype": "F32", "shape": [], "data_offsets": [12, 16]},
    "d": {"dtype": "I64", "shape": [1], "data_offsets": [16, 24]},
    "e": {"dtype": "BOOL", "shape": [0, 3], "data_offsets": [24, 24]},
    "f": {"dtype": "U8", "shape": [3], "data_offsets": [24, 27]},
    "g": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [27, 28]},
    "__metadata__": {"format": "pt"}}, bytes(range(28))))
put("safetensors", "seed_padded", st(b'{"x":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}   ', bytes(8)))
put("safetensors", "seed_overlap", st({
    "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    "b": {"dtype": "F32", "shape": [1], "data_offsets": [2, 6]}}, bytes(6)))
put("safetensors", "seed_huge_len", st({}, declared=1 << 62))
put("safetensors", "seed_unicode_name", st({"\u00e9\u4e2d": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"\x01"))
shutil.copy(os.path.join(GOLDEN, "dir_ft", "model-00002-of-00002.safetensors"),
            os.path.join(HERE, "corpus", "safetensors", "golden_dir_ft_shard2"))

# index: the golden sharded fine-tune's index (its shards are beside it in the fuzz target) and variants.
with open(os.path.join(GOLDEN, "dir_ft", "model.safetensors.index.json"), "rb") as f:
    idx = json.loads(f.read())
put("index", "golden_index", json.dumps(idx, indent=2))
wm = idx["weight_map"]
one = dict(wm)
one.pop(next(iter(one)))
put("index", "seed_missing_tensor", json.dumps({"weight_map": one}))
put("index", "seed_wrong_shard", json.dumps({"weight_map": {k: "model-00001-of-00002.safetensors" for k in wm}}))
put("index", "seed_unsafe_name", json.dumps({"weight_map": {"a": "../x.safetensors"}}))
put("index", "seed_empty", json.dumps({"weight_map": {}}))
put("index", "seed_not_string", json.dumps({"metadata": {"total_size": 1}, "weight_map": {"a": 1}}))

# .dcx: the small golden files (all three record kinds, all transforms, a directory layout).
for target in ("dcx_info", "dcx_decompress"):
    os.makedirs(os.path.join(HERE, "corpus", target), exist_ok=True)
    for name in ("tiny_default", "tiny_dct16", "tiny_dwt_mse", "dir_default"):
        shutil.copy(os.path.join(GOLDEN, name + ".dcx"), os.path.join(HERE, "corpus", target, "golden_" + name))
