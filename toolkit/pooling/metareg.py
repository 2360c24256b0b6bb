"""Mixed-effects meta-regression on study-level moderators (metafor ``rma(yi, vi, mods=~...)``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ReviewError
from .models import RMAResult, rma


@dataclass
class MetaRegression:
    """A meta-regression fit plus metafor's pseudo-R^2 (percent; ``nan`` when undefined)."""

    fit: RMAResult
    R2: float
    tau2_plain: float


def is_categorical(values: pd.Series) -> bool:
    """A moderator is categorical unless every value parses as a number."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return False
    return pd.to_numeric(values, errors="coerce").isna().any()


def _levels(values: pd.Series) -> list[str]:
    """Sorted levels as R's ``factor``: numerically if all are numbers, else alphabetically."""
    levels = list(values.astype(str).unique())
    nums = pd.to_numeric(pd.Series(levels), errors="coerce")
    if not nums.isna().any():
        return [lv for _, lv in sorted(zip(nums, levels))]
    return sorted(levels)


def design_matrix(mods: pd.DataFrame, categorical=()) -> tuple[np.ndarray, list[str]]:
    """The model matrix of an intercept and the moderators, with metafor's term names.

    Numeric moderators enter as they are. Categorical ones (text columns, and the columns named
    in ``categorical``) get treatment (dummy) coding with the first level in sorted order as
    reference, as R's ``factor``; a dummy is named column name + level (``allocrandom``), as R's
    ``model.matrix``.
    """
    k = len(mods)
    cols, names = [np.ones(k)], ["intercept"]
    for name in mods.columns:
        values = mods[name]
        if name in categorical or is_categorical(values):
            levels = _levels(values)
            if len(levels) < 2:
                raise ReviewError(f"moderator {name!r} has a single level ({levels[0]!r})",
                                  column=name)
            for level in levels[1:]:
                cols.append((values.astype(str) == level).to_numpy(dtype=float))
                names.append(f"{name}{level}")
        else:
            cols.append(pd.to_numeric(values).to_numpy(dtype=float))
            names.append(str(name))
    X = np.column_stack(cols)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ReviewError("moderators are collinear or constant; the model cannot be fitted")
    return X, names


def metareg(yi, vi, mods: pd.DataFrame, *, method: str = "REML", test: str = "z",
            level: float = 95, categorical=()) -> MetaRegression:
    """Fit ``yi ~ moderators`` with residual heterogeneity ``tau2`` (``method``), and metafor's
    R^2 = max(0, (tau2_plain - tau2) / tau2_plain) * 100 against the intercept-only model."""
    X, names = design_matrix(mods, categorical)
    if len(yi) < X.shape[1] + (0 if method == "FE" else 1):
        raise ReviewError(f"{len(yi)} studies are too few for {X.shape[1]} coefficients "
                          "and tau^2")
    fit = rma(yi, vi, X, method=method, test=test, level=level, names=names)
    if method == "FE":
        return MetaRegression(fit, float("nan"), 0.0)
    plain = rma(yi, vi, method=method, test=test, level=level)
    if plain.tau2 == 0:
        r2 = 0.0
    else:
        r2 = max(0.0, 100 * (plain.tau2 - fit.tau2) / plain.tau2)
    return MetaRegression(fit, r2, plain.tau2)
