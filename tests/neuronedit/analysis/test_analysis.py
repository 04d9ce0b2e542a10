"""Transfer analysis, plots and report on a tiny model."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import tiny_model_dir

from attributions import NeuronSet, PairPreference, attribute
from attributions.errors import InputError
from attributions.selection import DEFAULT_RULE, select
from attributions.timings import split_timings
from neuronedit import evaluate, masked
from neuronedit.analysis import TransferResult, domains_from, edit_effects, random_like, spearman, transfer_matrix
from neuronedit.data import Dataset
from neuronedit.data.neutral import heldout_corpus
from neuronedit.measure import pair_stats
from neuronedit.measure.bootstrap import bootstrap
from neuronedit.measure.evaluation import Evaluation, SuiteResult
from neuronedit.report.plots import dose_response, layer_histogram, overlap_heatmap, transfer_heatmap
from neuronedit.report.transfer import write_report

pytestmark = pytest.mark.tiny_lm(seed=2)  # the module's `tiny_lm` fixture (conftest.py)


@pytest.fixture(scope="module")
def domains():
    out = domains_from(["gender", "religion"], "probes", others=False)
    for d in out:
        d.attribution = d.attribution[:8] + d.attribution[-8:]
        test = d.evaluation[0]  # both ends: female- and male-stereotyped pairs, so the balanced gap is defined
        d.evaluation = [Dataset(list(test[:20]) + list(test[-20:]), kind=test.kind, spec=test.spec,
                                bias_type=test.bias_type, split=test.split)]
    return out


@pytest.fixture(scope="module")
def result(tiny_lm, domains) -> TransferResult:
    return transfer_matrix(tiny_lm, domains, k=4, dose=(2, 8), n_boot=200, log=None, ppl_text=heldout_corpus(),
                           objective="auto")


def test_random_like_copies_the_layer_distribution():
    chosen = NeuronSet([(0, 1), (0, 2), (1, 7), (1, 8), (1, 9)])
    random = random_like(chosen, [48, 48], seed=3)
    assert Counter(layer for layer, _ in random) == Counter(layer for layer, _ in chosen)
    assert not (random & chosen) and random_like(chosen, [48, 48], seed=3) == random
    assert random_like(chosen, [48, 48], seed=4) != random
    with pytest.raises(ValueError, match=r"neurons of layer 0 .* has only 1 such neurons: .* \(--top-k\)"):
        random_like(NeuronSet([(0, 0), (0, 1)]), [4], exclude=NeuronSet([(0, 1), (0, 2), (0, 3)]))


def test_spearman_by_hand():
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([4.0, 3, 2, 1])) == pytest.approx(-1.0)
    # d = rank differences (0, 0, 1, -1, 0): rho = 1 - 6 * 2 / (5 * 24) = 0.9
    assert spearman(np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 2, 4, 3, 5])) == pytest.approx(0.9)
    assert spearman(np.array([1.0, np.nan, 3, 4]), np.array([1.0, 5, 3, 4])) == pytest.approx(1.0)


def _suite(gaps: np.ndarray) -> Evaluation:
    stats = pair_stats()
    r = SuiteResult("probes-gender", "gender", {"gap": gaps}, stats, "score", [str(i) for i in range(len(gaps))])
    r.intervals = {m: bootstrap(s, r.data, r.n, n_boot=300) for m, s in stats.items()}
    return Evaluation([r], {})


def test_edit_effects_paired_statistics_by_hand():
    before = _suite(np.array([1.0] * 80 + [-1.0] * 20))  # 80% stereotypical
    after = _suite(np.array([1.0] * 60 + [-1.0] * 40))  # 60%
    random = _suite(np.array([1.0] * 78 + [-1.0] * 22))  # 78%
    (row,) = edit_effects(before, after, random, n_boot=300)
    assert row["before"] == pytest.approx(80) and row["after"] == pytest.approx(60)
    assert row["delta"] == pytest.approx(-20) and row["abs_delta"] == pytest.approx(-20)
    assert row["vs_random"] == pytest.approx(10 - 28)
    # every resample moves the same 20 items from stereotypical to not: the paired interval is tight
    assert row["delta_ci_low"] <= -20 <= row["delta_ci_high"] and row["delta_ci_high"] < -10
    (same,) = edit_effects(before, before, n_boot=100)
    assert same["delta"] == same["delta_ci_low"] == same["delta_ci_high"] == 0
    overshoot = _suite(np.array([1.0] * 10 + [-1.0] * 90))  # 10%: past 50, more biased the other way
    (row,) = edit_effects(before, overshoot, n_boot=100)
    assert row["delta"] == pytest.approx(-70) and row["abs_delta"] == pytest.approx(40 - 30)


def test_transfer_matrix_shape_and_independent_recomputation(tiny_lm, domains, result):
    effects = result.effects
    assert result.sources == ["gender", "religion"] and result.targets == ["gender", "religion"]
    # sources x sizes (2, 4, 8) x (2 targets + perplexity), plus the random control at k=4
    assert len(effects) == 2 * 3 * 3 + 2 * 3
    assert set(effects["edit"]) == {"selected", "random"}
    assert result.matrix().shape == (2, 2) and list(result.matrix("delta").columns) == ["gender", "religion",
                                                                                        "perplexity"]
    for column in ("delta", "abs_delta"):
        bias = effects[effects["target"] != "perplexity"]
        assert (bias[f"{column}_ci_low"] <= bias[column] + 1e-9).all()
        assert (bias[column] <= bias[f"{column}_ci_high"] + 1e-9).all()
    # the baseline is the same for every source; the random control matches the selected set's layers
    for target, group in effects.groupby("target"):
        assert group["before"].nunique() == 1, target
    for neurons in result.selected.values():
        assert len(neurons) == 4
    cell = result.cells().set_index(["source", "target"])
    # recompute one cell without the analysis code: attribute, select, mask, evaluate
    assert result.settings["objective"] == {"gender": "diff", "religion": "tail"}
    scores = attribute(tiny_lm, PairPreference(domains[0].attribution, span="diff"), "grad_x_act")
    from neuronedit.locate.control_scores import DEFAULT_CONTROL, control_scores
    assert result.settings["control"] == DEFAULT_CONTROL
    scores.control = control_scores(tiny_lm, DEFAULT_CONTROL, domain="gender")
    neurons = select(scores, 4, DEFAULT_RULE)
    assert neurons == result.selected["gender"]
    with masked(tiny_lm, neurons):
        direct = evaluate(tiny_lm, [domains[1].evaluation[0], heldout_corpus()], progress=False, n_boot=10)
    assert cell.loc[("gender", "religion"), "after"] == pytest.approx(
        direct.get("probes-religion", "religion").intervals["assoc"].value)
    assert cell.loc[("gender", "religion"), "score_after"] == pytest.approx(
        direct.get("probes-religion", "religion").intervals["score"].value)
    assert cell.loc[("gender", "perplexity"), "after"] == pytest.approx(
        direct.get("perplexity", "none").intervals["perplexity"].value, rel=1e-6)
    row = cell.loc[("gender", "gender")]
    random_after = result.cells("random").set_index(["source", "target"]).loc[("gender", "gender"), "after"]
    assert row["metric"] == "assoc_gap" and row["neutral"] == 0  # gender probes: balanced log-odds
    assert row["vs_random"] == pytest.approx(abs(row["after"]) - abs(random_after))
    overlap = result.overlap.set_index(["a", "b"])
    assert overlap.loc[("gender", "religion"), "jaccard"] == pytest.approx(
        result.selected["gender"].jaccard(result.selected["religion"]))
    assert result.layers.groupby("source")["count"].sum().tolist() == [4, 4]
    assert result.settings["fingerprint"] == tiny_lm.fingerprint() and result.settings["k"] == 4


def test_result_save_load_and_plots(result, tmp_path):
    result.save(tmp_path)
    again = TransferResult.load(tmp_path)
    pd.testing.assert_frame_equal(again.effects, result.effects, check_dtype=False)
    assert again.selected == result.selected and again.settings == split_timings(result.settings)[0]
    assert json.loads((tmp_path / "timings.json").read_text()) == {
        "results.json": {"settings": {"seconds": result.settings["seconds"]}}}  # durations stay out of the results
    assert pd.read_csv(tmp_path / "effects.csv").shape == result.effects.shape

    for key, value in (("effects", None), ("selected", {"gender": [[0, "x", 1]]}), ("effects", [1, 2])):
        damaged = json.loads((tmp_path / "results.json").read_text())
        damaged.pop(key) if value is None else damaged.update({key: value})
        (tmp_path / "bad.json").write_text(json.dumps(damaged))
        with pytest.raises(InputError, match=r"bad\.json: .*(missing|damaged).*neuronedit transfer"):
            TransferResult.load(tmp_path / "bad.json")

    fig = transfer_heatmap(result, tmp_path / "heat")
    assert (tmp_path / "heat.png").stat().st_size > 0 and (tmp_path / "heat.svg").stat().st_size > 0
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and "k = 4" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    value = result.cells().set_index(["source", "target"]).loc[("gender", "religion"), "abs_delta"]
    assert any(t.startswith(f"{value:+.1f}") for t in texts) and len(texts) == 4
    assert any(a.get_label() == "<colorbar>" for a in fig.axes)
    for make, name in ((overlap_heatmap, "overlap"), (dose_response, "dose"), (layer_histogram, "layers")):
        fig = make(result, tmp_path / name)
        assert (tmp_path / f"{name}.png").is_file() and (tmp_path / f"{name}.svg").is_file()
        plotted = [a for a in fig.axes if a.get_label() != "<colorbar>"]
        assert plotted and all(a.get_title() or a.get_xlabel() for a in plotted)
    dose_ax = dose_response(result).axes[0]
    assert dose_ax.get_ylabel() == "probes: association" and len(dose_ax.lines) == 2 + 1  # targets + no-bias line


def test_report_is_self_contained(result, tmp_path):
    path = write_report(result, tmp_path, command="neuronedit transfer --model tiny")
    text = path.read_text()
    assert text.count("data:image/png;base64,") == 4 and "neuronedit transfer --model tiny" in text
    for line in result.summary():
        assert line.split(":")[0] in text
    verdicts = result.verdicts()
    assert [v.split(":")[0] for v in verdicts] == result.sources
    import html

    assert text.index(html.escape(verdicts[0])) < text.index("<h2>Summary</h2>")  # the verdicts open the page
    assert {"effects.csv", "overlap.csv", "layers.csv", "results.json", "transfer_heatmap.svg"} <= {
        p.name for p in tmp_path.iterdir()}


def test_cli_transfer_writes_report(tmp_path, cli_in_process):
    model_dir = tiny_model_dir(tmp_path / "m", "gpt2", seed=1)
    out = tmp_path / "out"
    cmd = ["transfer", "--model", str(model_dir), "--domains", "gender",
           "race", "--top-k", "3", "--dose", "1", "--n-boot", "50", "--max-items", "20", "--ppl-tokens", "2000",
           "--explain-tokens", "400", "--out", str(out)]
    done = cli_in_process(*cmd)
    assert done.returncode == 0, done.stderr
    assert "report: " in done.stdout and (out / "report.html").is_file()
    report = (out / "report.html").read_text()
    for domain in ("gender", "race"):  # every removed neuron links to its card, with a summary per domain
        assert f"of 3 {domain} neurons, " in done.stdout and f"of 3 {domain} neurons, " in report
        cards = (out / f"explain_{domain}.html").read_text()
        assert cards.count("class='ne-card'") == 3 and report.count(f"href='explain_{domain}.html#L") == 3
    assert set(json.loads((out / "explain.json").read_text())) == {"gender", "race"}
    assert "Removing 3 gender neurons" in done.stdout and "stereoset: gender" in done.stdout  # bundled real data
    assert "winobias: gender" in done.stdout and "knowledge gender" in done.stdout
    again = cli_in_process(*cmd)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    bad = cli_in_process(*cmd[:-2], "--data", "nonsense", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "KIND:PATH" in bad.stderr and not (tmp_path / "x").exists()


def test_unlearning_edit_in_the_matrix_and_the_model_is_restored(tiny_lm, domains):
    from neuronedit.unlearn import unlearning_edit

    before = {k: v.clone() for k, v in tiny_lm.model.state_dict().items()}
    edit = unlearning_edit("masked_token", confine=True, lr=1e-2, steps=2, batch_size=4, eval_every=2,
                           max_retain_ppl_increase=None)
    result = transfer_matrix(tiny_lm, domains[:1], k=3, dose=(), edit=edit, n_boot=50, log=None)
    assert result.settings["edit"] == "unlearn:masked_token:confined"
    cells = result.cells().set_index("target")
    assert cells.loc["gender", "after"] != cells.loc["gender", "before"] or cells.loc["perplexity", "delta"] != 0
    assert all(torch.equal(v, before[k]) for k, v in tiny_lm.model.state_dict().items())


def test_domains_from_a_benchmark_file_with_bias_types(tiny_lm, tmp_path):
    import json

    lines = []
    for bias, targets in (("gender", ["nurse", "engineer", "doctor", "secretary", "mechanic", "man"]),
                          ("religion", ["muslim", "christian", "hindu", "jewish", "family", "neighbor"])):
        for t in targets:
            lines.append({"type": "intrasentence", "target": t, "bias_type": bias, "context": f"the {t} was BLANK",
                          "stereotype": f"the {t} was loud", "anti-stereotype": f"the {t} was lazy",
                          "unrelated": f"the {t} was paris"})
    path = tmp_path / "stereoset.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    domains = domains_from(["gender", "religion"], f"stereoset:{path}", others=False)
    for d in domains:
        test = d.evaluation[0]
        assert d.attribution and test and not {i.id for i in d.attribution} & {i.id for i in test}
    result = transfer_matrix(tiny_lm, domains, k=2, dose=(), n_boot=50, log=None, ppl_text=heldout_corpus())
    assert set(result.cells()["metric"]) == {"assoc", "perplexity"} and result.benchmarks == ["stereoset"]
    assert {"ss_before", "lms_before", "lms_delta"} <= set(result.effects.columns)
    with pytest.raises(ValueError, match="no items of bias type 'race'"):
        domains_from(["race"], f"stereoset:{path}")
