"""The Python module: compress / decompress / info on the example pair, and errors.

Run by ctest with PYTHONPATH pointing at the built module and DELTACODEC_CLI at the CLI.
"""
import json
import os
import subprocess
import sys
import tempfile

import deltacodec

SRC = os.environ["DELTACODEC_SOURCE_DIR"]
CLI = os.environ["DELTACODEC_CLI"]
BASE = os.path.join(SRC, "examples", "base.safetensors")
FT = os.path.join(SRC, "examples", "finetuned.safetensors")

failures = 0
passed = 0


def check(cond, what):
    global failures, passed
    if cond:
        passed += 1
    else:
        failures += 1
        print("FAIL:", what)


with tempfile.TemporaryDirectory() as d:
    out = os.path.join(d, "x.dcx")
    rep = deltacodec.compress(BASE, FT, out, method="dct", patch=32, bits="4:0.34,2:0.33,0:0.33", threads=2)
    s = rep["summary"]
    check(s["dcx_bytes"] == os.path.getsize(out), "report counts the real file size")
    check(s["ratio"] > 1 and 0 < s["rel_error"] < 1, "ratio and error are sane: %r" % s)
    check(rep["options"]["method"] == "dct" and rep["options"]["patch"] == 32, "options recorded")
    # The same call through the CLI gives the same bytes.
    cli_out = os.path.join(d, "cli.dcx")
    subprocess.run([CLI, "compress", BASE, FT, "-o", cli_out, "--method", "dct", "--patch", "32",
                    "--bits", "4:0.34,2:0.33,0:0.33", "-q"], check=True)
    check(open(out, "rb").read() == open(cli_out, "rb").read(), "module and CLI write identical files")
    info = deltacodec.info(out)
    check(info["layout"] == "file" and abs(info["summary"]["ratio"] - s["ratio"]) < 1e-9, "info agrees with the report")
    check(sum(t["kind"] == "coded" for t in info["tensors"]) == s["tensors_compressed"], "info counts coded tensors")
    rebuilt = os.path.join(d, "r.safetensors")
    r = deltacodec.decompress(BASE, out, rebuilt)
    check(r["tensors"] == len(info["tensors"]) and os.path.exists(rebuilt), "decompress")
    try:
        deltacodec.decompress(BASE, out, rebuilt)
        check(False, "existing output without overwrite must raise")
    except deltacodec.Error as e:
        check("exists" in str(e), "error names the cause: %s" % e)
    try:
        deltacodec.compress(BASE, FT, os.path.join(d, "y.dcx"), bits="2:0.5,0:0.6")
        check(False, "bad spec must raise")
    except deltacodec.Error:
        check(not os.path.exists(os.path.join(d, "y.dcx")), "no output after an error")
    # The option table drives the keywords: every row's keyword is accepted at its default
    # (same bytes as no keywords), the report's options are exactly the recorded rows,
    # an unknown keyword or a wrong type is a TypeError naming it, a bad value an Error.
    table = deltacodec.compress_options()
    check(len(table) >= 14, "compress_options lists the table")
    kw = {}
    for row in table:
        v = row["default"]
        kw[row["keyword"]] = int(v) if row["kind"] == "int" else (v == "true") if row["kind"] == "flag" else v
    plain = os.path.join(d, "plain.dcx")
    rp = deltacodec.compress(BASE, FT, plain)
    ra = deltacodec.compress(BASE, FT, os.path.join(d, "all.dcx"), **kw)
    check(open(plain, "rb").read() == open(os.path.join(d, "all.dcx"), "rb").read(), "every keyword at its default")
    recorded = {row["json"] for row in table if row["json"] is not None}
    check(set(ra["options"]) == recorded and set(rp["options"]) == recorded, "report options are the recorded rows")
    for row in table:
        if row["json"] is not None and row["kind"] != "int":
            check(ra["options"][row["json"]] == row["default"], "recorded default of " + row["keyword"])
    for bad, what in (({"no_such_option": 1}, "no_such_option"), ({"patch": "64"}, "patch"),
                      ({"method": 1}, "method"), ({"overwrite": 1}, "overwrite")):
        try:
            deltacodec.compress(BASE, FT, os.path.join(d, "t.dcx"), **bad)
            check(False, "%r must raise TypeError" % bad)
        except TypeError as e:
            check(what in str(e), "TypeError names %s: %s" % (what, e))
    # Values go through the same parsers as the CLI's (old module: these were accepted).
    for bad in ({"method": "dct", "bands": "ll_only"}, {"threads": 10**8}, {"patch": 12}, {"method": "fft"}):
        try:
            deltacodec.compress(BASE, FT, os.path.join(d, "t.dcx"), **bad)
            check(False, "%r must raise" % bad)
        except deltacodec.Error:
            check(not os.path.exists(os.path.join(d, "t.dcx")), "no output after %r" % bad)
    # Symbolic links inside a model directory: refused unless follow_symlinks=True.
    bd = os.path.join(d, "bd")
    os.mkdir(bd)
    os.symlink(os.path.abspath(BASE), os.path.join(bd, "model.safetensors"))
    try:
        deltacodec.decompress(bd, out, os.path.join(d, "s.safetensors"))
        check(False, "a symlinked shard must raise")
    except deltacodec.Error as e:
        check("symbolic link" in str(e), "error names the link: %s" % e)
    r = deltacodec.decompress(bd, out, os.path.join(d, "s.safetensors"), follow_symlinks=True)
    check(r["tensors"] == len(info["tensors"]), "follow_symlinks=True reads the link")
    try:
        deltacodec.info(os.path.join(d, "missing.dcx"))
        check(False, "missing file must raise")
    except deltacodec.Error:
        check(True, "missing file raises")

print("python: %d passed, %d failed" % (passed, failures))
sys.exit(1 if failures else 0)
