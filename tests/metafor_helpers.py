"""Shared by the metafor reference tests (test_pooling_metafor*.py)."""

from __future__ import annotations

import math

REL = 1e-6


def close(got, want, rel=REL):
    """Relative difference <= rel; NA in the reference means None here; 0 must be 0."""
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got is None
    if want == 0:
        return got == 0
    return got is not None and abs(got - want) / abs(want) <= rel
