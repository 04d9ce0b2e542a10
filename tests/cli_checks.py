"""The one check of a command-line refusal: exit 2, one message without a traceback, holding each needle."""

from __future__ import annotations


def refused(result: tuple[int, str], *needles: str) -> str:
    """``result`` is ``run_cli``'s ``(exit code, output)``; returns the output."""
    code, out = result
    assert code == 2 and "Traceback" not in out, out
    for needle in needles:
        assert needle in out, out
    return out
