"""``neuronedit apply``: replay a neuronedit.json manifest on a base model."""

from __future__ import annotations

import argparse
from typing import Any

from .args import add_model, add_output, add_quiet
from .outputs import check_output_dir


def add_parser(sub: Any) -> None:
    """Register ``apply``."""
    parser = sub.add_parser("apply", help="replay a neuronedit.json manifest on a base model")
    add_model(parser, "the base model the manifest was made on")
    parser.add_argument("--manifest", required=True, help="neuronedit.json, or a checkpoint directory holding one")
    parser.add_argument("--force", action="store_true",
                        help="apply even when the weight fingerprint differs or the manifest names none")
    add_output(parser, "checkpoint directory to write")
    add_quiet(parser, "no progress output from transformers")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Replay a manifest on a base checkpoint and save the edited checkpoint."""
    from ..edits import apply_edit_, save_edited
    from ..model.loading import load_model

    out = check_output_dir(args.out, overwrite=args.overwrite)
    lm = load_model(args.model)
    done = apply_edit_(lm, args.manifest, force=args.force)
    if not done:
        print("every edit of the manifest is already applied to this model; nothing written")
        return 0
    save_edited(lm, out, overwrite=args.overwrite)
    print(f"applied {len(done)} edit(s): " + ", ".join(f"{e.id} ({e.mode}, {len(e.neurons)} neurons)" for e in done)
          + f" -> {out}")
    return 0
