"""Benchmark: the random-intercept logistic GLMM (7-node adaptive Gauss-Hermite quadrature) and
a GLMM leave-one-out on simulated single-arm proportions.

Run from the repository root: ``python benchmarks/bench_glmm.py``. Prints, for k = 10, 100 and
1,000 studies, the seconds of one fit (best of 3) and of the leave-one-out (k refits; k = 10
and 100 only). Simulated data with a fixed seed; reads no files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_pool import best_of  # noqa: E402  (this folder is on the path when run)
from toolkit.pooling.diagnostics import glmm_leave_one_out  # noqa: E402
from toolkit.pooling.glmm import fit_glmm  # noqa: E402


def simulate(k: int, seed: int = 20261201):
    rng = np.random.default_rng(seed)
    n = rng.integers(5, 120, k)
    p = 1 / (1 + np.exp(-(1.2 + rng.normal(0, 0.8, k))))
    return rng.binomial(n, p), n


if __name__ == "__main__":
    for k in (10, 100, 1000):
        x, n = simulate(k)
        t, fit = best_of(lambda: fit_glmm(x, n))
        line = f"k = {k:>5}: GLMM fit {t:.3f} s (tau2 = {fit.tau2:.4f})"
        if k <= 100:
            t, _ = best_of(lambda: glmm_leave_one_out(x, n), repeat=1)
            line += f"; leave-one-out {t:.2f} s"
        print(line)
