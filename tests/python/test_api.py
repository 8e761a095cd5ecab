"""The Python package deltacodec: paths, in-memory load and compress, progress,
exceptions, the option table's keywords, docstrings and the stub.

Run by ctest (tests/CMakeLists.txt) with PYTHONPATH at the built package.
"""
import ast
import errno
import inspect
import os
import pathlib
import subprocess
import threading

import numpy as np
import pytest

import deltacodec
from conftest import BASE, CLI, FT, SRC, as_arg, read_safetensors, write_safetensors

QUICK = dict(method="dct", patch=32, bits="4:0.34,2:0.33,0:0.33", threads=2)


@pytest.fixture(scope="module")
def dcx(tmp_path_factory):
    out = tmp_path_factory.mktemp("dcx") / "x.dcx"
    deltacodec.compress(BASE, FT, out, **QUICK)
    return out


@pytest.fixture(scope="module")
def bf16_files(tmp_path_factory, bf16_pair):
    """The BF16 pair as files, and its .dcx (made from the dicts)."""
    d = tmp_path_factory.mktemp("bf16")
    base, ft = bf16_pair
    write_safetensors(d / "base.safetensors", base)
    write_safetensors(d / "ft.safetensors", ft)
    deltacodec.compress(as_arg(base), as_arg(ft), d / "x.dcx", patch=32, threads=2)
    return d


# ---- the report, info and the CLI agree (the module's first tests) ------------------------------


def test_compress_report_info_and_cli_agree(tmp_path, dcx):
    out = tmp_path / "x.dcx"
    rep = deltacodec.compress(BASE, FT, out, **QUICK)
    s = rep["summary"]
    assert s["dcx_bytes"] == out.stat().st_size
    assert s["ratio"] > 1 and 0 < s["rel_error"] < 1
    assert rep["options"]["method"] == "dct" and rep["options"]["patch"] == 32
    cli_out = tmp_path / "cli.dcx"
    subprocess.run([CLI, "compress", BASE, FT, "-o", cli_out, "--method", "dct", "--patch", "32",
                    "--bits", "4:0.34,2:0.33,0:0.33", "-q"], check=True)
    assert out.read_bytes() == cli_out.read_bytes() == dcx.read_bytes()
    info = deltacodec.info(out)
    assert info["layout"] == "file" and abs(info["summary"]["ratio"] - s["ratio"]) < 1e-9
    assert sum(t["kind"] == "coded" for t in info["tensors"]) == s["tensors_compressed"]
    r = deltacodec.decompress(BASE, out, tmp_path / "r.safetensors")
    assert r["tensors"] == len(info["tensors"]) and (tmp_path / "r.safetensors").exists()


def test_wavelet_levels_are_an_option_and_reach_info(tmp_path):
    out = tmp_path / "w.dcx"
    rep = deltacodec.compress(BASE, FT, out, method="db4", levels=2, patch=32, bits="2:1")
    assert rep["options"]["method"] == "db4" and rep["options"]["levels"] == 2
    coded = [t for t in deltacodec.info(out)["tensors"] if t["kind"] == "coded"]
    assert coded and all(t["transform"] == "db4" and t["levels"] == 2 for t in coded)
    with pytest.raises(deltacodec.OptionError, match=r"^levels=5 does not fit patch size 32"):
        deltacodec.compress(BASE, FT, tmp_path / "x.dcx", method="db4", levels=5, patch=32)


# ---- paths ----------------------------------------------------------------------------------------


# Caught on the old module: pathlib.Path raised TypeError.
@pytest.mark.parametrize("kind", [str, pathlib.Path, os.fsencode])
def test_every_path_form_is_taken(tmp_path, dcx, kind):
    out = tmp_path / "p.dcx"
    deltacodec.compress(kind(BASE), kind(FT), kind(str(out)), **QUICK)
    assert out.read_bytes() == dcx.read_bytes()
    assert deltacodec.info(kind(str(out)))["tensors"]
    deltacodec.decompress(kind(BASE), kind(str(out)), kind(str(tmp_path / "r.safetensors")))
    assert set(deltacodec.load(kind(BASE), kind(str(out)))) == {t["name"] for t in deltacodec.info(out)["tensors"]}


def test_a_path_of_another_type_is_a_type_error(dcx):
    with pytest.raises(TypeError, match="dcx must be a path"):
        deltacodec.info(42)
    with pytest.raises(TypeError, match="base must be a path"):
        deltacodec.load(None, dcx)


# Caught on the old module: a name that is not UTF-8 gave an empty message.
def test_non_utf8_paths_work_and_are_named(tmp_path, dcx):
    d = os.fsencode(str(tmp_path))
    odd = d + b"/ft-\xff.dcx"
    deltacodec.compress(BASE, FT, odd, **QUICK)
    assert open(odd, "rb").read() == dcx.read_bytes()
    as_str = os.fsdecode(odd)  # '\udcff' (surrogateescape), as os.listdir gives it
    assert deltacodec.info(as_str)["tensors"]
    with pytest.raises(deltacodec.NotFoundError) as e:
        deltacodec.info(d + b"/missing-\xfe.dcx")
    assert "missing-\\xfe.dcx" in str(e.value) and "No such file" in str(e.value)


# ---- load(): in memory ------------------------------------------------------------------------------


# Caught on the old module: there was no load().
def test_load_gives_the_tensors_decompress_writes(tmp_path, dcx):
    deltacodec.decompress(BASE, dcx, tmp_path / "r.safetensors")
    ref = read_safetensors(tmp_path / "r.safetensors")
    got = deltacodec.load(BASE, dcx, threads=2)
    assert list(got) == list(ref)  # the file's order
    for name, (dt, a) in ref.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape, name
        assert got[name].tobytes() == a.tobytes(), name
        assert got[name].flags.owndata and got[name].flags.writeable, name


def test_load_bf16_both_ways(bf16_files):
    d = bf16_files
    deltacodec.decompress(d / "base.safetensors", d / "x.dcx", d / "r.safetensors", overwrite=True)
    ref = read_safetensors(d / "r.safetensors")
    as_bits = deltacodec.load(d / "base.safetensors", d / "x.dcx", bf16="uint16")
    as_f32 = deltacodec.load(d / "base.safetensors", d / "x.dcx", bf16="float32")
    dt, bits = ref["layer.1.weight"]
    assert dt == "BF16"
    assert as_bits["layer.1.weight"].dtype == np.uint16
    assert np.array_equal(as_bits["layer.1.weight"], bits)
    assert as_f32["layer.1.weight"].dtype == np.float32
    assert np.array_equal(as_f32["layer.1.weight"].view(np.uint32), bits.astype(np.uint32) << 16)  # exact widening
    assert np.array_equal(as_f32["layer.0.weight"], as_bits["layer.0.weight"])  # F32 untouched by the choice
    with pytest.raises(deltacodec.OptionError, match="bf16='bfloat16' is not one of"):
        deltacodec.load(d / "base.safetensors", d / "x.dcx", bf16="bfloat16")


def test_load_against_the_wrong_base_is_a_mismatch(dcx):
    with pytest.raises(deltacodec.MismatchError, match="wrong base") as e:
        deltacodec.load(FT, dcx)
    assert isinstance(e.value, ValueError)


# ---- compress() from dicts ----------------------------------------------------------------------


# Caught on the old module: compress took file paths only.
def test_compress_from_dicts_equals_compress_from_files(tmp_path, bf16_pair, bf16_files):
    base, ft = bf16_pair
    d = bf16_files
    deltacodec.compress(d / "base.safetensors", d / "ft.safetensors", tmp_path / "f.dcx", patch=32, threads=2)
    assert (tmp_path / "f.dcx").read_bytes() == (d / "x.dcx").read_bytes()
    # Mixed: the base from its file, the fine-tune from memory.
    deltacodec.compress(d / "base.safetensors", as_arg(ft), tmp_path / "m.dcx", patch=32, threads=2)
    assert (tmp_path / "m.dcx").read_bytes() == (d / "x.dcx").read_bytes()
    # The rebuilt tensors are the fine-tune's, within the codec's error; lossless ones exactly.
    got = deltacodec.load(d / "base.safetensors", tmp_path / "m.dcx", bf16="uint16")
    assert list(got) == list(ft)
    assert np.array_equal(got["head.weight"], ft["head.weight"][1])
    assert np.array_equal(got["layer.0.norm"], ft["layer.0.norm"][1])
    delta = ft["layer.0.weight"][1] - base["layer.0.weight"][1]
    err = got["layer.0.weight"] - ft["layer.0.weight"][1]
    assert np.linalg.norm(err) < np.linalg.norm(delta)  # closer than the base


def test_compress_from_dicts_takes_any_layout_and_byte_order(tmp_path, bf16_pair, bf16_files):
    base, ft = bf16_pair
    ft2 = as_arg(ft)
    ft2["layer.0.weight"] = np.asfortranarray(ft["layer.0.weight"][1]).astype(">f4")  # copied to C order, LE
    ft2["head.weight"] = ft["head.weight"][1].T.copy().T  # a non-contiguous view's values
    deltacodec.compress(as_arg(base), ft2, tmp_path / "x.dcx", patch=32, threads=2)
    assert (tmp_path / "x.dcx").read_bytes() == (bf16_files / "x.dcx").read_bytes()


def test_bad_dict_values_are_refused(tmp_path, bf16_pair):
    base, ft = bf16_pair
    with pytest.raises(TypeError, match="numpy dtype object"):
        deltacodec.compress(as_arg(base), {"x": np.array(["a"], dtype=object)}, tmp_path / "x.dcx")
    with pytest.raises(TypeError, match="tensor names must be str"):
        deltacodec.compress(as_arg(base), {1: np.zeros(3)}, tmp_path / "x.dcx")
    bad = as_arg(ft)
    bad["layer.1.weight"] = (ft["layer.1.weight"][1].astype(np.float32), "BF16")  # 4-byte items named BF16
    with pytest.raises(deltacodec.InputError, match="finetuned .in memory.: tensor 'layer.1.weight' has 16384 bytes"):
        deltacodec.compress(as_arg(base), bad, tmp_path / "x.dcx")
    unrelated = {k + ".x": v for k, v in as_arg(base).items()}
    with pytest.raises(deltacodec.MismatchError):
        deltacodec.compress(unrelated, as_arg(ft), tmp_path / "x.dcx")
    assert not (tmp_path / "x.dcx").exists()


# ---- progress ---------------------------------------------------------------------------------------


# Caught on the old module: there was no progress callback.
def test_progress_advances_to_the_end(tmp_path, dcx):
    names = [t["name"] for t in deltacodec.info(dcx)["tensors"]]
    for call in (
        lambda cb: deltacodec.compress(BASE, FT, tmp_path / "p.dcx", progress=cb, overwrite=True, **QUICK),
        lambda cb: deltacodec.decompress(BASE, dcx, tmp_path / "p.safetensors", progress=cb, overwrite=True),
        lambda cb: deltacodec.load(BASE, dcx, progress=cb),
    ):
        seen = []
        call(seen.append)
        assert all(isinstance(p, deltacodec.Progress) for p in seen)
        assert len(seen) >= 2 and seen[0].done == 0 and seen[0].bytes_done == 0
        assert all(a.done <= b.done and a.bytes_done <= b.bytes_done for a, b in zip(seen, seen[1:]))
        assert {p.total for p in seen} == {len(names)}
        assert seen[-1].done == len(names) and seen[-1].bytes_done == seen[-1].bytes_total > 0
        assert {p.name for p in seen[1:]} <= set(names)


class Stop(Exception):
    pass


def test_an_exception_in_progress_ends_the_call_and_leaves_nothing(tmp_path, dcx):
    def stop_at_3(p):  # mid-run: after the third tensor, before the end
        if p.done >= 3 and p.bytes_done < p.bytes_total:
            raise Stop("stopped at %s" % p.name)

    with pytest.raises(Stop):  # compress: raised on its writer thread, re-raised here
        deltacodec.compress(BASE, FT, tmp_path / "x.dcx", progress=stop_at_3, **QUICK)
    with pytest.raises(Stop):
        deltacodec.decompress(BASE, dcx, tmp_path / "x.safetensors", progress=stop_at_3)
    with pytest.raises(Stop):
        deltacodec.load(BASE, dcx, progress=stop_at_3)
    assert os.listdir(tmp_path) == []  # no output, no temporary
    with pytest.raises(TypeError, match="progress must be callable"):
        deltacodec.load(BASE, dcx, progress=3)


def test_other_threads_run_during_a_call(tmp_path):
    # The work runs without the GIL: a Python thread advances while compress() runs.
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=tick)
    t.start()
    seen = []
    try:
        deltacodec.compress(BASE, FT, tmp_path / "x.dcx", progress=lambda p: seen.append(len(ticks)), **QUICK)
    finally:
        stop.set()
        t.join()
    assert seen[-1] > seen[0]


# ---- exceptions --------------------------------------------------------------------------------------


def test_exception_classes_and_their_words(tmp_path, dcx):
    # Caught on the old module: one RuntimeError subclass, messages naming CLI flags ("use -f").
    with pytest.raises(deltacodec.OutputExistsError) as e:
        deltacodec.compress(BASE, FT, dcx, **QUICK)
    assert isinstance(e.value, FileExistsError) and isinstance(e.value, deltacodec.FileError)
    assert e.value.errno == errno.EEXIST
    assert "pass overwrite=True" in str(e.value) and "-f" not in str(e.value)
    deltacodec.decompress(BASE, dcx, tmp_path / "r.safetensors")
    with pytest.raises(deltacodec.OutputExistsError, match="overwrite=True"):
        deltacodec.decompress(BASE, dcx, tmp_path / "r.safetensors")
    with pytest.raises(deltacodec.NotFoundError) as e:
        deltacodec.compress(tmp_path / "missing.safetensors", FT, tmp_path / "x.dcx")
    assert isinstance(e.value, FileNotFoundError) and e.value.errno == errno.ENOENT
    assert "missing.safetensors" in str(e.value)
    with pytest.raises(deltacodec.OptionError) as e:
        deltacodec.compress(BASE, FT, tmp_path / "x.dcx", patch=12)
    assert isinstance(e.value, ValueError)
    assert str(e.value) == "patch=12 is not a multiple of 8 between 8 and 256"
    with pytest.raises(
        deltacodec.OptionError,
        match=r"^bands='ll_only' applies to method='dwt' or method='db2' or method='db4' or method='cdf97' only$",
    ):
        deltacodec.compress(BASE, FT, tmp_path / "x.dcx", method="dct", bands="ll_only")
    with pytest.raises(deltacodec.OptionError, match=r"^bits='2:0.5,0:0.6' is not a valid allocation spec"):
        deltacodec.compress(BASE, FT, tmp_path / "x.dcx", bits="2:0.5,0:0.6")
    with pytest.raises(deltacodec.OptionError, match=r"^threads=-1 is out of range 0\.\.256$"):
        deltacodec.load(BASE, dcx, threads=-1)
    cut = tmp_path / "cut.dcx"
    cut.write_bytes(dcx.read_bytes()[:1000])
    with pytest.raises(deltacodec.InputError) as e:
        deltacodec.info(cut)
    assert isinstance(e.value, ValueError) and "cut.dcx" in str(e.value)
    with pytest.raises(deltacodec.FileError) as e:
        deltacodec.info(tmp_path)  # a directory
    assert e.value.errno == errno.EISDIR and str(e.value).endswith(" is a directory")
    assert not list(tmp_path.glob("x.dcx*"))


def test_a_symbolic_link_in_a_model_directory_names_follow_symlinks(tmp_path, dcx):
    bd = tmp_path / "bd"
    bd.mkdir()
    (bd / "model.safetensors").symlink_to(os.path.abspath(BASE))
    with pytest.raises(deltacodec.InputError) as e:
        deltacodec.decompress(bd, dcx, tmp_path / "s.safetensors")
    assert "follow_symlinks=True" in str(e.value) and "--" not in str(e.value)
    r = deltacodec.decompress(bd, dcx, tmp_path / "s.safetensors", follow_symlinks=True)
    assert r["tensors"] == len(deltacodec.info(dcx)["tensors"])


def test_every_error_is_a_deltacodec_error():
    for cls in (deltacodec.OptionError, deltacodec.InputError, deltacodec.MismatchError, deltacodec.FileError,
                deltacodec.NotFoundError, deltacodec.OutputExistsError):
        assert issubclass(cls, deltacodec.Error)
    assert not issubclass(deltacodec.Error, RuntimeError)


# ---- the option table drives the keywords --------------------------------------------------------


def of_another_method(row):
    # A row of a method other than the default patch coder (e.g. rank: method='lowrank' only).
    flag, _, values = row["only"].partition(" ")
    return flag == "--method" and not {"dct", "dwt"} & set(values.split("|"))


def test_every_keyword_at_its_default_gives_the_plain_bytes(tmp_path):
    table = [row for row in deltacodec.compress_options() if not of_another_method(row)]
    assert len(table) >= 14
    kw = {}
    for row in table:
        v = row["default"]
        kw[row["keyword"]] = (int(v) if row["kind"] == "int" else float(v) if row["kind"] == "number" else
                              (v == "true") if row["kind"] == "flag" else v)
    rp = deltacodec.compress(BASE, FT, tmp_path / "plain.dcx")
    ra = deltacodec.compress(BASE, FT, tmp_path / "all.dcx", **kw)
    assert (tmp_path / "plain.dcx").read_bytes() == (tmp_path / "all.dcx").read_bytes()
    recorded = {row["json"] for row in table if row["json"] is not None and row["record_default"]}
    assert set(ra["options"]) == recorded and set(rp["options"]) == recorded
    for row in table:
        if row["json"] in recorded and row["kind"] not in ("int", "number"):
            assert ra["options"][row["json"]] == row["default"], row["keyword"]


@pytest.mark.parametrize("bad,what", [({"no_such_option": 1}, "no_such_option"), ({"patch": "64"}, "patch"),
                                      ({"method": 1}, "method"), ({"overwrite": 1}, "overwrite")])
def test_unknown_keyword_or_wrong_type_is_a_type_error(tmp_path, bad, what):
    with pytest.raises(TypeError, match=what):
        deltacodec.compress(BASE, FT, tmp_path / "t.dcx", **bad)


@pytest.mark.parametrize("bad", [{"method": "dct", "bands": "ll_only"}, {"threads": 10**8}, {"patch": 12},
                                 {"method": "fft"}, {"include": "("}])
def test_bad_values_are_option_errors_and_leave_nothing(tmp_path, bad):
    with pytest.raises(deltacodec.OptionError) as e:
        deltacodec.compress(BASE, FT, tmp_path / "t.dcx", **bad)
    key = next(iter(bad)) if len(bad) == 1 else "bands"
    assert str(e.value).startswith(key + "="), str(e.value)
    assert "--" not in str(e.value)
    assert not (tmp_path / "t.dcx").exists()


# ---- docstrings and the stub -------------------------------------------------------------------------

PUBLIC = ["compress", "decompress", "load", "info", "compress_options"]


def test_numpydoc_docstrings():
    for name in PUBLIC:
        doc = inspect.getdoc(getattr(deltacodec, name))
        assert doc and "\nReturns\n-------\n" in doc and "\nExamples\n--------\n" in doc, name
        if name != "compress_options":
            assert "\nParameters\n----------\n" in doc and "\nRaises\n------\n" in doc, name
    doc = inspect.getdoc(deltacodec.compress)
    for row in deltacodec.compress_options():  # every option, from the table, with its default
        assert "\n%s : " % row["keyword"] in doc, row["keyword"]
        assert row["cli"] in doc


def test_docstring_examples_run(tmp_path, monkeypatch):
    # The Examples sections, run in order in a folder holding the example pair.
    import doctest
    import shutil

    shutil.copy(BASE, tmp_path / "base.safetensors")
    shutil.copy(FT, tmp_path / "ft.safetensors")
    monkeypatch.chdir(tmp_path)
    for name in ["compress", "info", "decompress", "load", "compress_options"]:
        f = getattr(deltacodec, name)
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
        for test in doctest.DocTestFinder().find(f, name, globs={"deltacodec": deltacodec}):
            runner.run(test)
        assert runner.summarize(verbose=False).failed == 0, name
        assert runner.summarize(verbose=False).attempted > 0, name


def _python_doc():
    """The Python section of docs/API.md."""
    with open(os.path.join(SRC, "docs", "API.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("\n## Python\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def test_documented_examples_run(tmp_path, monkeypatch, capsys):
    # Every ```python block of the documentation, in order, in a folder holding the example pair.
    import re
    import shutil

    blocks = re.findall(r"```python\n(.*?)```", _python_doc(), re.S)
    assert len(blocks) >= 5
    for row in deltacodec.compress_options():  # the documented keyword table lists every row
        assert "| `%s`" % row["keyword"] in _python_doc() or "`, `%s`" % row["keyword"] in _python_doc(), row
    shutil.copy(BASE, tmp_path / "base.safetensors")
    shutil.copy(FT, tmp_path / "ft.safetensors")
    monkeypatch.chdir(tmp_path)
    env = {}
    for b in blocks:
        exec(compile(__import__("textwrap").dedent(b), "docs", "exec"), env)
    out = capsys.readouterr().out
    assert "ft.dcx exists (pass overwrite=True to replace it)" in out
    assert sorted(os.listdir(tmp_path)) == ["base.safetensors", "ft.dcx", "ft.safetensors", "ft2.dcx",
                                            "rebuilt.safetensors"]
    # README.md's example, too.
    with open(os.path.join(SRC, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    blocks = re.findall(r"```python\n(.*?)```", readme[readme.index("### From Python"):], re.S)
    assert blocks
    readme_dir = tmp_path / "readme"
    readme_dir.mkdir()
    shutil.copy(BASE, readme_dir / "base.safetensors")
    shutil.copy(FT, readme_dir / "ft.safetensors")
    monkeypatch.chdir(readme_dir)
    exec(compile(blocks[0], "README.md", "exec"), {})
    assert (readme_dir / "rebuilt.safetensors").exists()


def _stub_functions():
    with open(os.path.join(SRC, "python", "deltacodec", "__init__.pyi"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_the_stub_matches_the_package_and_the_option_table():
    stub = _stub_functions()
    assert sorted(stub) == sorted(PUBLIC)
    for name in PUBLIC:
        real = inspect.signature(getattr(deltacodec, name))
        pos = [p.name for p in real.parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD]
        kwonly = [p.name for p in real.parameters.values() if p.kind == p.KEYWORD_ONLY]
        assert [a.arg for a in stub[name].args.args] == pos, name
        if name == "compress":  # **options in the code: the table's keywords in the stub
            kwonly += [row["keyword"] for row in deltacodec.compress_options()]
        assert [a.arg for a in stub[name].args.kwonlyargs] == kwonly, name
    kinds = {"int": "int", "number": "float", "flag": "bool", "text": "str"}
    annotations = {a.arg: ast.unparse(a.annotation) for a in stub["compress"].args.kwonlyargs}
    for row in deltacodec.compress_options():
        assert annotations[row["keyword"]] == kinds[row["kind"]], row["keyword"]
    names = set(deltacodec.__all__)
    assert set(PUBLIC) <= names and "Progress" in names and "Error" in names
