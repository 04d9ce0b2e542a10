"""The base of the toolkit's own errors (light: imports nothing).

Every error that ``attributions`` and ``neuronedit`` raise for something the user can fix derives from
:class:`NeuronEditError`; ``except NeuronEditError`` catches them all and lets programming errors through.
"""

from __future__ import annotations

__all__ = ["InputError", "NeuronEditError"]


class NeuronEditError(Exception):
    """An error the user can fix: bad input, a damaged file, a missing resource; the message names the
    file or option and the fix."""


class InputError(NeuronEditError, ValueError):
    """A bad value, file or name given to the toolkit (also a ValueError, for callers that catch those)."""
