"""The transfer analysis on the demo model (notebook 03, reduced setting)."""

from __future__ import annotations

import pytest
from tiny_models import run_notebook

pytestmark = pytest.mark.slow


def test_notebook_03_runs(tmp_path):
    outputs = run_notebook("03_transfer_heatmap.ipynb", tmp_path)
    assert "Removing 50 gender neurons" in outputs and "spearman" in outputs and "knowledge kept" in outputs
    assert (tmp_path / "transfer_heatmap.png").is_file()
