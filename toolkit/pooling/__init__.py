"""Pooling stage: effect sizes (``escalc``), models (``rma``), subgroups, meta-regression and
forest plots, numerically equal to R metafor. See docs/pooling.md.

Public API (imported lazily so that ``review --help`` stays fast)::

    from toolkit.pooling import escalc, rma, predict, metareg, subgroups, pool_table, forest_plot
    from toolkit.pooling import fit_glmm                       # rma.glmm (PLO)
    from toolkit.pooling import leave_one_out, influence, egger_test, trim_and_fill, cumulative
    from toolkit.pooling import pool_outcome                   # a review's extracted outcome
"""

from .registry import MEASURES, METHODS  # noqa: F401  (no numpy import)

_LAZY = {
    "escalc": "effects", "EffectSizes": "effects", "back_transform": "effects",
    "rma": "models", "predict": "models", "RMAResult": "models",
    "metareg": "metareg", "design_matrix": "metareg",
    "subgroups": "subgroups",
    "pool_table": "api", "effect_sizes_from_table": "api",
    "forest_plot": "forest",
    "fit_glmm": "glmm", "GLMMResult": "glmm",
    "leave_one_out": "diagnostics", "influence": "diagnostics", "egger_test": "diagnostics",
    "trim_and_fill": "diagnostics", "cumulative": "diagnostics", "baujat": "diagnostics",
    "glmm_leave_one_out": "diagnostics", "glmm_cumulative": "diagnostics",
    "one_unit": "inclusion", "without_overlaps": "inclusion",
    "pool_outcome": "review_outcomes", "outcome_data": "review_outcomes",
}

__all__ = ["MEASURES", "METHODS", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
