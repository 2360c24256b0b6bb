"""Derived values: computed from what was extracted, never typed, and always marked as derived.

Formulas (Cochrane Handbook for Systematic Reviews of Interventions, version 6.4, section
6.5.2.2 "Obtaining standard deviations from standard errors and confidence intervals for group
means"):

- percentage from n of N: ``100 * n / N``.
- SD from the standard error of a mean: ``SD = SE * sqrt(n)``.
- SD from a 95 % confidence interval of a mean: ``SD = sqrt(n) * (upper - lower) / 3.92`` for
  large samples; when n < 60 the Handbook replaces 3.92 by ``2 * t(0.975, n - 1)`` (the t
  quantile with n - 1 degrees of freedom), which is what we do.
"""

from __future__ import annotations

import math

from scipy import stats

SMALL_SAMPLE = 60  # Handbook 6.5.2.2: "say fewer than 60 participants", use the t distribution


def percent_from_n_of_N(n: int, N: int) -> float:
    """``100 n / N``."""
    if N <= 0:
        raise ValueError("N must be positive")
    return 100.0 * n / N


def sd_from_se(se: float, n: int) -> float:
    """SD of a mean from its standard error: ``se * sqrt(n)``."""
    _check_n(n)
    return se * math.sqrt(n)


def ci_divisor(n: int) -> float:
    """The width of a 95 % CI in standard errors: 3.92 for n >= 60, else 2 t(0.975, n-1)."""
    _check_n(n)
    if n >= SMALL_SAMPLE:
        return 3.92
    if n < 2:
        raise ValueError("a t-based CI needs n >= 2 (t has n - 1 degrees of freedom)")
    return 2.0 * float(stats.t.ppf(0.975, n - 1))


def sd_from_ci(lower: float, upper: float, n: int) -> float:
    """SD of a mean from its 95 % CI: ``sqrt(n) (upper - lower) / divisor(n)``."""
    if upper < lower:
        raise ValueError("the CI's upper limit is below its lower")
    return math.sqrt(n) * (upper - lower) / ci_divisor(n)


def sd_of(value: dict, n) -> tuple[float | None, str | None]:
    """The SD of a parsed ``mean_sd`` value: (sd, how) where ``how`` is None when the SD was
    reported, the formula when derived, or (None, why) when it cannot be had -- n not
    reported, or an n no formula takes (n < 1; n < 2 for an SD from a CI, whose t quantile
    needs n - 1 >= 1 degrees of freedom). Never raises for such an n: callers list the study
    as left out with ``why``."""
    if "sd" in value:
        return float(value["sd"]), None
    if "se" in value or "ci_low" in value:
        if n is None:
            return None, "SD derivation needs n, which is not reported"
        try:
            if "se" in value:
                return sd_from_se(float(value["se"]), n), f"SD = SE*sqrt(n), n={n}"
            d = ci_divisor(n)
            how = (f"SD = sqrt(n)*(upper-lower)/3.92, n={n}" if d == 3.92 else
                   f"SD = sqrt(n)*(upper-lower)/(2*t(0.975,{int(n) - 1})), n={n}")
            return sd_from_ci(float(value["ci_low"]), float(value["ci_high"]), n), how
        except ValueError as exc:
            source = "an SE" if "se" in value else "a 95% CI"
            return None, f"no SD from {source} with n={n}: {exc}"
    return None, "SD not reported"


def _check_n(n) -> None:
    if (n is None or isinstance(n, bool) or not isinstance(n, (int, float))
            or not math.isfinite(n) or int(n) != n or n < 1):
        raise ValueError(f"n must be a positive whole number, got {n!r}")
