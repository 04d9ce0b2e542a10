"""One small name -> entry registry, used for attribution methods, architectures, data kinds and
unlearning methods and losses."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from .errors import InputError

__all__ = ["Registry", "UnknownNameError"]

T = TypeVar("T")


class UnknownNameError(InputError, KeyError):
    """A name that is not registered (a KeyError for mappings, a ValueError for argument checks)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Registry(Mapping[str, T], Generic[T]):
    """Entries by name, in registration order; a read-only mapping plus :meth:`register`.

    Looking up an unknown name raises :class:`UnknownNameError` with the registered names.

    Args:
        what: what an entry is, for messages (e.g. ``"attribution method"``).
        entries: the built-in entries.
    """

    def __init__(self, what: str, entries: Mapping[str, T] | None = None) -> None:
        self.what = what
        self._entries: dict[str, T] = {}
        for name, entry in (entries or {}).items():
            self.register(name, entry)

    def register(self, name: str, entry: T) -> T:
        """Add ``entry`` under ``name`` (replacing one of that name) and return it."""
        if not isinstance(name, str) or not name:
            raise InputError(f"a {self.what} needs a non-empty string name, not {name!r}")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> T:
        """Remove ``name`` and return its entry."""
        entry = self[name]
        del self._entries[name]
        return entry

    def restore(self, entries: Mapping[str, T]) -> None:
        """Make the registry hold exactly ``entries`` again (e.g. a ``dict(registry)`` taken before a test)."""
        self._entries = dict(entries)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownNameError(f"unknown {self.what} {name!r}; choose one of {', '.join(self._entries)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.what!r}, {list(self._entries)})"
