"""`neuronedit compare` end to end on a tiny checkpoint, and its bad-input exits."""

from __future__ import annotations

import json

import pytest
from tiny_models import tiny_model_dir

from attributions.errors import InputError
from neuronedit.analysis.comparison_result import Comparison


def test_compare_writes_table_figure_and_report(tmp_path, cli_in_process):
    _cli = cli_in_process
    model = str(tiny_model_dir(tmp_path / "m"))
    out = tmp_path / "cmp"
    common = ["--model", model, "--data", "probes", "--max-items", "6", "--ppl-tokens", "200", "--n-boot", "20",
              "--top-k", "4", "--rule", "top", "--out", str(out), "--quiet"]
    done = _cli("compare", "--methods", "neurons,self-debias,leace,random", *common)
    assert done.returncode == 0, done.stderr
    assert "vs neurons" in done.stdout and "self-debias" in done.stdout
    body = json.loads((out / "comparison.json").read_text())
    methods = {row["method"] for row in body["effects"]}
    assert methods == {"neurons", "self-debias", "leace", "random"}
    assert {row["target"] for row in body["effects"]} >= {"gender", "race", "religion", "perplexity"}
    assert body["settings"]["fingerprint"] and body["settings"]["fitted"]["gender/leace"]["layers"] == [0, 1]
    page = (out / "compare.html").read_text()
    assert "data:image/png;base64" in page and "http" not in page.replace("http-equiv", "")
    verdicts = Comparison.load(out).verdicts()
    assert [v.split(":")[0] for v in verdicts] == ["gender"]  # one per source, above the sections
    assert page.index('class="verdict"') < page.index("<h2>Source: gender</h2>")
    assert (out / "compare_gender.png").stat().st_size > 0 and (out / "comparison_table.csv").exists()
    again = _cli("compare", "--methods", "neurons", *common)
    assert again.returncode == 2 and "--overwrite" in again.stderr  # nothing replaced without --overwrite
    assert json.loads((out / "comparison.json").read_text()) == body
    loaded = Comparison.load(out)
    assert len(loaded.effects) == len(body["effects"]) and loaded.settings == body["settings"]
    for damage in ({"effects": "x"}, {"effects": [1, 2]}, {"settings": None}):
        (tmp_path / "bad").mkdir(exist_ok=True)
        (tmp_path / "bad" / "comparison.json").write_text(json.dumps({**body, **damage}))
        with pytest.raises(InputError, match=r"bad/comparison\.json: .*neuronedit compare"):
            Comparison.load(tmp_path / "bad")


def test_bad_inputs_exit_2_with_the_fix(tmp_path, cli_in_process):
    _cli = cli_in_process
    model = str(tiny_model_dir(tmp_path / "m"))
    bad = _cli("compare", "--model", model, "--methods", "neurons,inlp", "--out", str(tmp_path / "o"))
    assert bad.returncode == 2 and "inlp" in bad.stderr and "leace" in bad.stderr
    twice = _cli("compare", "--model", model, "--methods", "cda,cda", "--out", str(tmp_path / "o"))
    assert twice.returncode == 2 and "twice" in twice.stderr
    spec = _cli("compare", "--model", model, "--data", "nosuchkind:x.csv", "--out", str(tmp_path / "o"))
    assert spec.returncode == 2 and "nosuchkind" in spec.stderr
    assert not (tmp_path / "o").exists()
