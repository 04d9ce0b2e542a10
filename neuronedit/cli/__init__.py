"""The ``neuronedit`` command line: one module per command, each with its ``add_parser`` and handler.

This module builds the parser and runs a command with the error handling of the edge: a toolkit
error (:class:`~attributions.errors.NeuronEditError`) or an OSError is one line on stderr and exit 2,
Ctrl-C exit 130; any other exception is a bug and keeps its traceback. Building the parser imports
no torch; handlers import what they need.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import sys
from collections.abc import Callable, Sequence
from typing import Any

from . import apply, attribute, compare, data, demo, edit, evaluate, explain, models, plant, recovery, transfer, unlearn
from .args import DEFAULT_RULE, RULES, Parser
from .outputs import check_run_paths

__all__ = ["DEFAULT_RULE", "RULES", "build_parser", "main"]

COMMANDS = (models, demo, evaluate, attribute, explain, edit, apply, transfer, compare, unlearn, plant, recovery, data)
"""The command modules, in the order of ``neuronedit --help``."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (cheap: no torch)."""
    from .._version import __version__

    parser = Parser(
        prog="neuronedit",
        description="Locate the MLP neurons behind a language model's bias, edit them, and measure the edit.",
    )
    parser.add_argument("--version", action="version", version=f"neuronedit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def _os_message(err: OSError) -> str:
    """An OSError as one line that names the file and says what to do."""
    if err.filename is None:
        return str(err)
    fix = {"EACCES": "check the permissions or choose another path", "EISDIR": "give a file, not a folder",
           "ENOTDIR": "a part of the path is a file, not a folder", "ENOSPC": "free disk space and run again",
           "EROFS": "the file system is read-only; choose another path",
           "ENOENT": "check the path"}.get(errno.errorcode.get(err.errno or 0, ""), "")
    return f"{err.filename}: {err.strerror or err}" + (f"; {fix}" if fix else "")


def _quiet(quiet: bool) -> Any:
    """Silence transformers' progress bars and info logs while a ``--quiet`` command runs."""
    if not quiet:
        return contextlib.nullcontext()
    from ..model.loading import quiet_transformers

    return quiet_transformers()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``neuronedit ARGV``; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # refused by the command's own parser, so the message names the command and its --help
        commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        owner = commands.choices.get(getattr(args, "command", None) or "", parser)
        owner.error(f"unrecognized arguments: {' '.join(extra)}")
    func: Callable[[argparse.Namespace], int] | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    from attributions.distributed import env_int, init_from_env, rank
    from attributions.errors import NeuronEditError

    try:
        distributed = env_int("WORLD_SIZE", 1) > 1
    except NeuronEditError as err:
        print(f"neuronedit {args.command}: error: {err}", file=sys.stderr)
        return 2
    if distributed:
        if not getattr(args, "distributed", False):
            print(f"neuronedit {args.command}: error: runs in one process; launch it without torchrun "
                  "(attribute, evaluate and transfer can run data-parallel)", file=sys.stderr)
            return 2
        init_from_env()
    where = f" (rank {rank()})" if distributed else ""
    try:
        check_run_paths(args)
        with _quiet(getattr(args, "quiet", False)):
            return func(args)
    except NeuronEditError as err:
        print(f"neuronedit {args.command}{where}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # FileExistsError, IsADirectoryError, PermissionError, disk full, ...
        print(f"neuronedit {args.command}{where}: error: {_os_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"neuronedit {args.command}{where}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
    finally:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
