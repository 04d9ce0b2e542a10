"""The options of a mask training run, checked where they are made."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import InputError
from ..selection import DEFAULT_K

__all__ = ["MaskOptions"]


@dataclass(frozen=True)
class MaskOptions:
    """Weights of the four terms, the budget, and the optimiser of :func:`~attributions.masking.learn_mask`.

    Attributes:
        budget: the expected number of closed gates, held after every step (the ``k`` of the ranked methods).
        bias_weight, text_weight, knowledge_weight: the terms' weights (>= 0; 0 drops a term).
        steps: training steps (one batch of each term per step).
        lr: Adam's learning rate on the gate locations.
        neutral: the objective's value the bias term pulls toward (0: no preference between the sides).
    """

    budget: int = DEFAULT_K
    bias_weight: float = 1.0
    text_weight: float = 1.0
    knowledge_weight: float = 1.0
    steps: int = 100
    lr: float = 0.2
    neutral: float = 0.0

    def __post_init__(self) -> None:
        for name in ("budget", "steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"learned_mask option {name} must be a whole number >= 1, not {value!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"learned_mask option {f.name} must be a finite number, not {value!r}")
        for name in ("bias_weight", "text_weight", "knowledge_weight"):
            if getattr(self, name) < 0:
                raise InputError(f"learned_mask option {name} must be >= 0, not {getattr(self, name)!r}")
        if self.bias_weight == 0:
            raise InputError("learned_mask option bias_weight must be > 0: without the bias term nothing is located")
        if self.lr <= 0:
            raise InputError(f"learned_mask option lr must be > 0, not {self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "learned_mask options") -> MaskOptions:
        """Options from a mapping (e.g. parsed from JSON); unknown names raise InputError listing the known ones."""
        if not isinstance(data, dict):
            raise InputError(f"{where} must be a mapping of option names to values, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"{where}: unknown option(s) {', '.join(unknown)}; "
                             f"the options are {', '.join(sorted(known))}")
        return cls(**data)
