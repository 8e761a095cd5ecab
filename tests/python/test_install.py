"""`pip install .` offline into a fresh venv, then the package used from another directory.

Run by ctest as the test python_install (label `install`; tests/CMakeLists.txt),
with DELTACODEC_PIP_WORKDIR set to a folder of the build tree. The source tree is
mirrored there and kept between runs, so setup.py's CMake build is incremental
after the first run (the first takes minutes: it builds the library); the venv
and the install are fresh each time.
"""
import os
import re
import shutil
import subprocess
import sys

from conftest import BASE, FT, SRC

SKIP = {".git", "zoo", "__pycache__", ".pytest_cache", ".cache"}


def _skip(rel):
    top = rel.split(os.sep, 1)[0]
    return top == "build" or top.startswith("build-") or any(p in SKIP for p in rel.split(os.sep))


def sync_tree(src, dst):
    """Mirrors src into dst: changed files copied (their times kept), removed ones deleted; build folders left out."""
    keep = set()
    for root, dirs, files in os.walk(src):
        rel_root = os.path.relpath(root, src)
        dirs[:] = [d for d in dirs if not _skip(os.path.normpath(os.path.join(rel_root, d)))]
        os.makedirs(os.path.join(dst, rel_root), exist_ok=True)
        for f in files:
            rel = os.path.normpath(os.path.join(rel_root, f))
            if _skip(rel):
                continue
            keep.add(rel)
            s, d = os.path.join(src, rel), os.path.join(dst, rel)
            a = os.stat(s)
            try:
                b = os.stat(d)
                same = (a.st_size, int(a.st_mtime)) == (b.st_size, int(b.st_mtime))
            except FileNotFoundError:
                same = False
            if not same:
                shutil.copy2(s, d)
    for root, dirs, files in os.walk(dst):
        rel_root = os.path.relpath(root, dst)
        dirs[:] = [d for d in dirs if not _skip(os.path.normpath(os.path.join(rel_root, d)))]
        for f in files:
            rel = os.path.normpath(os.path.join(rel_root, f))
            if not _skip(rel) and rel not in keep:
                os.remove(os.path.join(dst, rel))


USE = r"""
import os, sys, tempfile
import deltacodec
base, ft = sys.argv[1], sys.argv[2]
assert os.path.realpath(deltacodec.__file__).startswith(os.path.realpath(sys.prefix)), deltacodec.__file__
pkg = os.path.dirname(deltacodec.__file__)
assert os.path.exists(os.path.join(pkg, "py.typed")) and os.path.exists(os.path.join(pkg, "__init__.pyi"))
with tempfile.TemporaryDirectory() as d:
    rep = deltacodec.compress(base, ft, os.path.join(d, "x.dcx"), method="dct", patch=32, threads=2)
    tensors = deltacodec.load(base, os.path.join(d, "x.dcx"), threads=2)
    assert len(tensors) == len(rep["tensors"])
    try:
        deltacodec.compress(base, ft, os.path.join(d, "x.dcx"))
        raise SystemExit("no error for an existing output")
    except FileExistsError as e:
        assert "overwrite=True" in str(e)
print("ok", deltacodec.__version__, deltacodec.__file__)
"""


def test_pip_install_into_a_venv_and_use_from_another_directory(tmp_path):
    work = os.environ["DELTACODEC_PIP_WORKDIR"]
    src = os.path.join(work, "src")
    sync_tree(SRC, src)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    if shutil.which("ccache") and "CMAKE_ARGS" not in env:
        env["CMAKE_ARGS"] = "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"
        env["CCACHE_BASEDIR"] = src
    # The README's command, offline: no index, no build isolation.
    r = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", src], cwd=tmp_path, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    r = subprocess.run([py, "-c", USE, BASE, FT], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok ") and str(venv) in r.stdout, r.stdout
    with open(os.path.join(SRC, "include", "deltacodec", "deltacodec.hpp"), encoding="utf-8") as f:
        version = re.search(r'kVersion = "([0-9.]+)"', f.read()).group(1)
    assert r.stdout.split()[1] == version, r.stdout
    # The source copy stays clean: setuptools' folders are under build/.
    assert sorted(os.listdir(os.path.join(src, "python"))) == ["deltacodec", "module.cpp"]
