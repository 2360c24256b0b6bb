"""The one registry of outcome measures and tau^2 estimators.

The CLI's choices and the API's validation are derived from here (no numpy import, so the CLI
stays quick to start).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Measure:
    """One outcome measure: the columns (roles) it reads and the scale it reports on."""

    name: str
    label: str
    roles: tuple[str, ...]            # required inputs, e.g. ("events", "total")
    optional: tuple[str, ...] = ()    # inputs with a default (the MC correlation r)
    proportion: bool = False          # back-transform estimates to the proportion scale
    description: str = ""


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("PR", "proportion", ("events", "total"), proportion=True,
                description="raw proportion x/n, vi = p(1-p)/n"),
        Measure("PLO", "proportion (logit)", ("events", "total"), proportion=True,
                description="log odds log(p/(1-p)), vi = 1/x + 1/(n-x); back-transformed by "
                            "the inverse logit"),
        Measure("PFT", "proportion (Freeman-Tukey)", ("events", "total"), proportion=True,
                description="Freeman-Tukey double arcsine, vi = 1/(4n+2); back-transformed with "
                            "the harmonic mean of n"),
        Measure("MN", "mean", ("mean", "sd", "n"), description="single-group mean, vi = sd^2/n"),
        Measure("MC", "mean change (pre - post)",
                ("mean_pre", "sd_pre", "mean_post", "sd_post", "n"), optional=("r",),
                description="raw mean change m_pre - m_post, vi = (sd_pre^2 + sd_post^2 - "
                            "2 r sd_pre sd_post)/n"),
        Measure("GEN", "generic effect", ("yi", "vi"), description="effect sizes yi with "
                                                                   "sampling variances vi given"),
    )
}

#: Estimators of tau^2 (FE = fixed effect, tau^2 = 0). REML is the default, as in metafor.
METHODS: dict[str, str] = {
    "REML": "restricted maximum likelihood (Fisher scoring)",
    "DL": "DerSimonian-Laird (method of moments)",
    "PM": "Paule-Mandel (generalised Q equals its degrees of freedom)",
    "ML": "maximum likelihood (Fisher scoring)",
    "FE": "fixed effect (common effect, tau^2 = 0)",
}

#: Inference for the coefficients: Wald z, or Knapp-Hartung t / F.
TESTS = ("z", "knha")


def input_roles() -> list[str]:
    """Every input role of every measure, in registry order (one CLI option each)."""
    roles: list[str] = []
    for m in MEASURES.values():
        roles += [r for r in m.roles + m.optional if r not in roles]
    return roles
