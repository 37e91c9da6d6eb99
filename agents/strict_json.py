"""Strict JSON for records: NaN and infinities as null, numpy arrays and scalars as Python values.

The one JSON cleaner of the project; the result types of :mod:`agents.evaluation`
and the renderer :mod:`agents.reporting` both use it, so it sits below them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def json_safe(value: Any) -> Any:
    """NaN and infinities as None, numpy arrays and scalars as Python lists and numbers, recursively (strict JSON)."""
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value
