"""Benchmark loaders and built-in probes behind one entry point, :func:`load`.

``load("crows:PATH" | "stereoset:PATH" | "winobias:PATH" | "bbq:PATH" | "text:PATH" |
"probes:gender|race|religion", bias_type=None, split=None)``: the same strings the CLI takes
after ``--data``. ``stereoset``, ``winobias`` and ``text`` also take ``KIND:bundled`` or just
``KIND``: the dev copies shipped in the package (:mod:`neuronedit.data.bundled`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from attributions.errors import InputError
from attributions.registry import Registry

from .bundled import BUNDLED, bundled_path
from .items import BBQItem, PairItem, StereoSetItem, TextCorpus, canonical_bias_type
from .loaders import DataFormatError, load_bbq, load_crows, load_stereoset, load_text, load_winobias
from .probes import PROBE_DOMAINS, probe_pairs
from .split import SPLITS, split_of

__all__ = [
    "KINDS",
    "PROBE_DOMAINS",
    "BBQItem",
    "DataFormatError",
    "Dataset",
    "PairItem",
    "StereoSetItem",
    "TextCorpus",
    "canonical_bias_type",
    "group_key",
    "load",
    "load_pairs",
    "parse_spec",
    "probe_pairs",
]

KINDS: Registry[Callable[[Path], Any]] = Registry("data kind", {
    "crows": load_crows,
    "stereoset": load_stereoset,
    "winobias": load_winobias,
    "bbq": load_bbq,
    "text": load_text,
})
"""Loaders by data kind: ``KINDS.register("mykind", loader)`` adds one (``loader(path) -> list of items``)."""


class Dataset(list):
    """A list of items that remembers its spec (``kind``, ``path``) and filters."""

    def __init__(self, items: list[Any], *, kind: str, spec: str, bias_type: str | None, split: str | None) -> None:
        super().__init__(items)
        self.kind, self.spec, self.bias_type, self.split = kind, spec, bias_type, split

    @property
    def name(self) -> str:
        return self.kind if self.kind != "probes" else f"probes-{self.spec.split(':', 1)[1]}"

    def __getitem__(self, index: Any) -> Any:
        """Items by index; a slice is a :class:`Dataset` of the same kind (for quick subsets)."""
        if isinstance(index, slice):
            return Dataset(list.__getitem__(self, index), kind=self.kind, spec=self.spec,
                           bias_type=self.bias_type, split=self.split)
        return list.__getitem__(self, index)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split ``"kind:rest"``; a bare kind with bundled data means ``"kind:bundled"``.

    Raises a ValueError naming the accepted forms and kinds.
    """
    kind, sep, rest = spec.partition(":")
    if not sep and kind in BUNDLED:
        return kind, "bundled"
    if not sep or kind not in (*KINDS, "probes") or not rest or (rest == "bundled" and kind not in BUNDLED):
        why = f"there is no bundled copy of {kind!r}; " if kind in KINDS and (not sep or rest == "bundled") else ""
        raise InputError(
            f"data spec {spec!r} is not KIND:PATH, KIND:bundled or probes:DOMAIN; {why}"
            f"KIND is one of {', '.join(KINDS)}; KIND:bundled (or KIND alone) reads the copy shipped "
            f"in the package and exists for {', '.join(BUNDLED)} "
            "(e.g. stereoset:../shared/data/stereoset/stereoset_dev_flat.jsonl, stereoset:bundled or probes:gender)"
        )
    return kind, rest


def group_key(item: Any) -> str:
    """The key that keeps near-copies in one half: StereoSet target, BBQ template, probe word, pair id."""
    if isinstance(item, StereoSetItem):
        return f"{item.bias_type}:{item.target.lower()}"
    if isinstance(item, BBQItem):
        return item.template
    return str(getattr(item, "meta", {}).get("group", item.id))


def _user_path(text: str) -> Path:
    try:
        return Path(text).expanduser()
    except RuntimeError:  # "~name/..." for a user that does not exist
        raise FileNotFoundError(f"no such file: {text} (no user's home folder matches its '~'; "
                                "check the path)") from None


def _missing(path: Path) -> bool:
    try:
        return not path.exists()
    except OSError:  # e.g. a name too long: the loader reports it
        return False


def load_pairs(spec: str, *, bias_type: str | None = None, split: str | None = None) -> Dataset:
    """:func:`load` of pair data (a benchmark or probes, not ``text:``), refused naming ``spec`` otherwise."""
    loaded = load(spec, bias_type=bias_type, split=split)
    if not isinstance(loaded, Dataset):
        raise InputError(f"{spec} is plain text, not pairs with bias types; give pair data (stereoset, probes, or "
                         "crows:, stereoset:, winobias:, bbq: with a PATH)")
    return loaded


def load(spec: str, *, bias_type: str | None = None, split: str | None = None) -> Any:
    """Load a benchmark or probe set.

    Args:
        spec: ``KIND:PATH``, ``KIND:bundled`` or just ``KIND`` (the copy shipped in the package,
            for stereoset, winobias and text), or ``probes:DOMAIN``.
        bias_type: keep only items of this (canonical) bias type.
        split: ``"dev"`` or ``"test"``: a deterministic half, grouped so the halves share no
            probe word, StereoSet target, BBQ template or WinoBias/CrowS pair. None keeps all.

    Returns:
        A :class:`Dataset` (a list of items), or a :class:`TextCorpus` for ``text:``.
    """
    kind, rest = parse_spec(spec)
    if split is not None and split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS} or None, not {split!r}")
    if kind == "probes":
        items: Any = probe_pairs(rest)
    elif rest == "bundled" and kind == "text":
        items = load_text(bundled_path(kind), name="wikitext2-valid", source="bundled:wikitext2/valid.txt")
    elif rest == "bundled":
        items = KINDS[kind](bundled_path(kind))
    else:
        path = _user_path(rest)
        if kind in BUNDLED and _missing(path):
            raise FileNotFoundError(f"no such file: {path} (from data spec {spec!r}; "
                                    f"{kind}:bundled or just {kind} reads the copy shipped in the package)")
        items = KINDS[kind](path)
    if kind == "text":
        return items
    if bias_type is not None:
        wanted = canonical_bias_type(bias_type)
        available = sorted({i.bias_type for i in items})
        items = [i for i in items if i.bias_type == wanted]
        if not items:
            raise InputError(f"{spec} has no items of bias type {wanted!r}; it has {', '.join(available)}")
    if split is not None:
        items = [i for i in items if (i.meta.get("split") if kind == "probes" else split_of(group_key(i))) == split]
    return Dataset(items, kind=kind, spec=spec, bias_type=bias_type, split=split)
