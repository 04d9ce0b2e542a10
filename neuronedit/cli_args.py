"""Moved to :mod:`neuronedit.cli.args`; this module re-exports it for code that imports the old name."""

from .cli.args import (
    check_output_dir,
    check_output_file,
    finite_float,
    int_at_least,
    non_negative_float,
    positive_float,
)

__all__ = ["check_output_dir", "check_output_file", "finite_float", "int_at_least", "non_negative_float",
           "positive_float"]
