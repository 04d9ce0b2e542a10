"""What the benchmark scripts share: numbers made JSON-ready for their printed results."""

from __future__ import annotations

import math
from typing import Any


def clean(value: Any) -> Any:
    """``value`` with floats rounded to 4 places, NaN and infinities as None, numpy/torch scalars as Python
    numbers, in nested dicts and lists."""
    if hasattr(value, "item") and not isinstance(value, (list, dict)):
        value = value.item()
    if isinstance(value, float):
        return round(value, 4) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value
