"""Data sets built only from files Debian ships (no downloads).

Fashion-MNIST  /usr/share/datasets/fashion-mnist/*.gz (package dataset-fashion-mnist), idx.
  task "upright":  the usual 10-class problem (what the ViT bases are trained on).
  task "rot":      the same images rotated 90 degrees clockwise and colour-inverted
                   (what the ViT fine-tunes are trained on; the bases never see it).
Text (bytes are tokens):
  prose   /usr/share/common-licenses/*            (package base-files)
  python  /usr/lib/python3.11/*.py                (package libpython3.11-minimal/stdlib)
  c       /usr/include/*.h                        (package libc6-dev)
  perl    /usr/share/perl/5.*/**/*.pm             (package perl-modules)
  cmake   /usr/share/cmake-*/Modules/*.cmake      (package cmake-data)
Every split is by file (sorted paths; every 5th file is held out), except prose, where the
last 20% of each license text is held out (there are only 14 distinct files).
"""
from __future__ import annotations

import functools
import glob
import gzip
import os
import struct

import numpy as np

FMNIST_DIR = "/usr/share/datasets/fashion-mnist"


# ------------------------------------------------------------------ Fashion-MNIST
def _idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


_FM_CACHE = {}


def fashion_mnist(split: str, task: str = "upright"):
    """Returns (x float32 [N,1,28,28] normalised to [-1,1], y int64 [N])."""
    key = (split, task)
    if key in _FM_CACHE:
        return _FM_CACHE[key]
    pre = "train" if split == "train" else "t10k"
    x = _idx(os.path.join(FMNIST_DIR, f"{pre}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = _idx(os.path.join(FMNIST_DIR, f"{pre}-labels-idx1-ubyte.gz")).astype(np.int64)
    if task == "rot":
        x = 1.0 - np.rot90(x, k=-1, axes=(1, 2))
    elif task != "upright":
        raise ValueError(task)
    x = ((x - 0.5) / 0.5)[:, None].astype(np.float32)
    x = np.ascontiguousarray(x)
    _FM_CACHE[key] = (x, y)
    return x, y


def fashion_mnist_split(val=5000, seed=2026):
    """Fixed split of the 60,000 training images: (train indices, validation indices).
    The validation images are used for early stopping only, never for training."""
    perm = np.random.default_rng(seed).permutation(60000)
    return np.sort(perm[val:]), np.sort(perm[:val])


# -------------------------------------------------------------------------- text
SOURCES = {
    "prose": "/usr/share/common-licenses/*",
    "python": "/usr/lib/python3.11/*.py",
    "c": "/usr/include/*.h",
    "perl": "/usr/share/perl/5.*/**/*.pm",
    "cmake": "/usr/share/cmake-*/Modules/*.cmake",
}
CLASSES = ["prose", "python", "c", "perl", "cmake"]


def _files(source):
    paths = sorted(glob.glob(SOURCES[source], recursive=True))
    seen, out = set(), []
    for p in paths:
        r = os.path.realpath(p)
        if r in seen or not os.path.isfile(r):
            continue
        seen.add(r)
        out.append(p)
    if not out:
        raise FileNotFoundError(f"no files for {source}: {SOURCES[source]}")
    return out


@functools.lru_cache(maxsize=None)
def _split_bytes(source: str, split: str) -> bytes:
    files = _files(source)
    parts = []
    for i, p in enumerate(files):
        with open(p, "rb") as f:
            b = f.read()
        if source == "prose":
            cut = int(len(b) * 0.8)
            parts.append(b[:cut] if split == "train" else b[cut:])
        else:
            held = (i % 5 == 0)
            if held == (split == "test"):
                parts.append(b)
    return b"\n".join(parts)


VAL_FRACTION, VAL_MAX = 0.05, 65536


def corpus(source: str, split: str) -> bytes:
    """Bytes of a source's train, val or test part. test: held-out files (every 5th file;
    prose: the last 20% of each text). val: the last 5% (at most 64 KiB) of the training
    part, used only to decide when training has converged; train: the rest."""
    if split == "test":
        return _split_bytes(source, "test")
    if split not in ("train", "val"):
        raise ValueError(f"split must be train, val or test, not {split!r}")
    t = _split_bytes(source, "train")
    n = min(int(len(t) * VAL_FRACTION), VAL_MAX)
    return t[:-n] if split == "train" else t[-n:]


def as_tokens(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.uint8).astype(np.int64)


LM_BASE_SOURCES = ("c", "perl", "cmake", "prose")


def lm_eval_text(max_bytes: int = 131072) -> bytes:
    """Held-out fine-tune-domain text for the Llama pair: the first max_bytes of
    the held-out Python files (every 5th file of /usr/lib/python3.11/*.py)."""
    return corpus("python", "test")[:max_bytes]


def lm_base_eval_text(per_source: int = 32768) -> bytes:
    """Held-out text of the Llama base's own domain: the first 32 KiB of the held-out part
    of each of its four sources (C headers, Perl, CMake, licence prose)."""
    return b"\n".join(corpus(s, "test")[:per_source] for s in LM_BASE_SOURCES)


# ---------------------------------------------------------- snippet classification
SNIP = 64
PAD, CLS, SEP, MASK, OFFSET = 0, 1, 2, 3, 4


def encode_bytes(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.uint8).astype(np.int64) + OFFSET


def snippets(split: str, per_class: int, seed: int):
    """Random 64-byte windows (at least 24 non-space bytes) from each source,
    labelled by source. Returns ids [N, 1+SNIP] (CLS first) and labels [N]."""
    rng = np.random.default_rng(seed)
    ids, labels = [], []
    for c, src in enumerate(CLASSES):
        text = corpus(src, split)
        arr = np.frombuffer(text, dtype=np.uint8)
        got = 0
        while got < per_class:
            s = int(rng.integers(0, len(arr) - SNIP))
            w = arr[s:s + SNIP]
            if np.count_nonzero(~np.isin(w, (9, 10, 13, 32))) < 24:
                continue
            ids.append(np.concatenate([[CLS], w.astype(np.int64) + OFFSET]))
            labels.append(c)
            got += 1
    return np.stack(ids), np.array(labels, dtype=np.int64)


def bert_test_set():
    """The fixed, full test set of the BERT pair: 1,000 held-out snippets per class (5,000),
    enough for a 95% interval of about +-1.3 points at 75%. Windows are drawn at random
    positions, so in the small held-out prose (about 40 KB) some overlap."""
    return snippets("test", 1000, seed=1234)
