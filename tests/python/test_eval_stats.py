"""The evaluation harness's statistics (eval/evaluate.py): bootstrap intervals over test
examples and the paired bootstrap that RESULTS.md uses to call a difference significant."""
import os
import sys

import numpy as np
import pytest

SRC = os.environ.get("DELTACODEC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "eval"))
ev = pytest.importorskip("evaluate")  # needs torch (Debian python3-torch)


def acc_units(correct):
    c = np.asarray(correct, dtype=np.float64)
    return c, np.ones_like(c)


def bernoulli(n, p, seed):
    return (np.random.default_rng(seed).random(n) < p).astype(np.float64)


def test_interval_is_deterministic_and_has_the_binomial_width():
    u = acc_units(bernoulli(10000, 0.9, 1))
    lo, hi = ev.bootstrap_ci(u)
    assert (lo, hi) == ev.bootstrap_ci(u)
    mean = u[0].mean()
    assert lo < mean < hi
    expected = 2 * 1.96 * np.sqrt(mean * (1 - mean) / 10000)  # normal approximation
    assert 0.8 * expected < hi - lo < 1.2 * expected


def test_interval_shrinks_with_more_examples():
    small = ev.bootstrap_ci(acc_units(bernoulli(1000, 0.7, 2)))
    large = ev.bootstrap_ci(acc_units(bernoulli(16000, 0.7, 2)))
    assert (large[1] - large[0]) < 0.35 * (small[1] - small[0])


def test_ratio_metric_resamples_numerator_and_denominator_together():
    rng = np.random.default_rng(3)
    den = rng.integers(50, 300, size=400).astype(np.float64)
    num = den * rng.uniform(1.5, 2.5, size=400)  # bits of each window, ~2 bits per byte
    lo, hi = ev.bootstrap_ci((num, den))
    value = num.sum() / den.sum()
    assert lo < value < hi
    assert 1.5 < lo and hi < 2.5


def test_paired_identical_outputs_give_zero_difference():
    u = acc_units(bernoulli(5000, 0.8, 4))
    r = ev.paired_bootstrap(u, u)
    assert r["diff"] == 0 and r["ci95"] == [0.0, 0.0] and not r["significant"]


def test_paired_detects_a_small_consistent_gain_that_unpaired_intervals_cannot():
    b = bernoulli(10000, 0.9, 5)
    a = b.copy()
    wrong = np.flatnonzero(a == 0)
    a[wrong[:60]] = 1  # A fixes 60 examples B got wrong and breaks none: +0.6 points
    r = ev.paired_bootstrap(acc_units(a), acc_units(b))
    assert r["diff"] == pytest.approx(0.006)
    assert r["significant"] and 0 < r["ci95"][0] < 0.006 < r["ci95"][1]
    la, ha = ev.bootstrap_ci(acc_units(a))
    lb, hb = ev.bootstrap_ci(acc_units(b))
    assert la < hb  # the separate intervals overlap: only the pairing resolves it


def test_paired_balanced_changes_are_not_significant():
    b = bernoulli(10000, 0.9, 6)
    a = b.copy()
    wrong, right = np.flatnonzero(b == 0), np.flatnonzero(b == 1)
    a[wrong[:50]] = 1
    a[right[:50]] = 0  # as many fixed as broken: the difference is noise
    r = ev.paired_bootstrap(acc_units(a), acc_units(b))
    assert r["diff"] == 0 and not r["significant"]
    assert r["ci95"][0] < 0 < r["ci95"][1]


def test_paired_sign_follows_argument_order():
    b = bernoulli(4000, 0.5, 7)
    a = np.maximum(b, bernoulli(4000, 0.2, 8))
    ab, ba = ev.paired_bootstrap(acc_units(a), acc_units(b)), ev.paired_bootstrap(acc_units(b), acc_units(a))
    assert ab["diff"] == pytest.approx(-ba["diff"])
    assert ab["ci95"][0] == pytest.approx(-ba["ci95"][1])


def test_paired_refuses_different_test_units():
    with pytest.raises(ValueError):
        ev.paired_bootstrap(acc_units(np.ones(10)), acc_units(np.ones(11)))
    with pytest.raises(ValueError):
        ev.paired_bootstrap((np.ones(3), np.array([1.0, 2.0, 3.0])), (np.ones(3), np.ones(3)))
