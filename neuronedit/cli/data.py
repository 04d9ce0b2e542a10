"""``neuronedit data fetch``: download public benchmark files."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    """Register ``data`` and its actions (``fetch``)."""
    from ..data.fetch import DATASETS  # no torch: a plain table of addresses

    parser = sub.add_parser("data", help="benchmark data")
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = actions.add_parser("fetch", help="download public benchmark files (needs network)")
    fetch.add_argument("names", nargs="+", choices=list(DATASETS))
    fetch.add_argument("--dest", default="data", help="destination folder (default ./data)")
    fetch.add_argument("--base-url", help="download from this address instead (a mirror)")
    fetch.set_defaults(func=run_fetch)


def run_fetch(args: argparse.Namespace) -> int:
    """Download public benchmark files."""
    from ..data.fetch import fetch

    for name in args.names:
        paths = fetch(name, args.dest, base_url=args.base_url)
        print(f"{name}: {len(paths)} file(s) in {Path(args.dest) / name}")
    return 0
