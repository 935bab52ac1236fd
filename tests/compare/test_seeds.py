"""`compare --seeds N`: the seed-aware figures and intervals, the reports that say what they cover, the runs, and
one forward pass per model and text in the evaluation."""

import json
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.recommend import Constraints, recommend
from adaptlab.compare.report import render_markdown, write_reports
from adaptlab.compare.runner import compare
from adaptlab.compare.schema import read_comparison, with_relative_scores
from adaptlab.compare.seeds import combined_over_seeds, run_name, training_seeds
from adaptlab.compare.uncertainty import uncertainty_setup, with_uncertainty
from adaptlab.data import prepare_data
from adaptlab.eval.forgetting import reference_examples, reference_text
from adaptlab.models import load_tokenizer
from adaptlab.registry.lineage import EVALUATION_FILE
from adaptlab.schemas.run_record import read_run_record
from tests.compare.conftest import build_comparison, method_result
from tests.compare.test_runner import QUIET, tiny_comparison

EXAMPLES_ONLY = "cover the sampling of examples only"
WITH_SEEDS = "include the spread across seeds"


def seed_run(method: str, flipped: int):
    """A method's row as another training seed might give it: `flipped` more held-out rows wrong (fewer when negative)."""
    row = method_result(method, task_metric=True)
    hits = np.array(row.per_example.task_metric)
    targets = np.flatnonzero(hits == (1.0 if flipped > 0 else 0.0))[: abs(flipped)]
    hits[targets] = 1.0 - hits[targets]
    return row.model_copy(update={"task_metric_value": float(hits.mean()),
                                  "per_example": row.per_example.model_copy(update={"task_metric": hits.tolist()})})


def multi_seed_comparison(lora_flips: tuple[int, ...]):
    """full and lora trained once per entry of `lora_flips` (full the same every time): one comparison row each."""
    seeds = list(range(len(lora_flips)))
    per_seed = [with_relative_scores([seed_run("full", 0), seed_run("lora", flips)])[1] for flips in lora_flips]
    basis, results = with_relative_scores([combined_over_seeds(rows, seeds) for rows in zip(*per_seed)])
    results = with_uncertainty(results, basis, seed=0)
    return build_comparison(methods=("full", "lora")).model_copy(update={
        "methods": results, "relative_score_basis": basis, "training_seeds": seeds,
        "uncertainty": uncertainty_setup(seed=0, training_seeds=len(seeds)),
    })


def relative_width(comparison) -> float:
    interval = comparison.result("lora").intervals.relative_score
    return interval.high - interval.low


def test_figures_are_the_means_over_seeds_and_each_seed_is_kept():
    comparison = multi_seed_comparison((-8, 0, 8))
    lora = comparison.result("lora")
    assert [run.training_seed for run in lora.seed_runs] == [0, 1, 2] and lora.per_example is None
    assert lora.task_metric_value == pytest.approx(np.mean([run.task_metric_value for run in lora.seed_runs]))
    assert lora.relative_score == pytest.approx(100 * lora.task_metric_value / comparison.result("full").task_metric_value)
    # lora gets 77, 85 and 69 of 100 rows right, full 80: each seed against full's run of the same seed
    assert [run.relative_score for run in lora.seed_runs] == pytest.approx([96.25 + 10, 96.25, 96.25 - 10])
    for interval, point in ((lora.intervals.task_metric, lora.task_metric_value), (lora.intervals.relative_score, lora.relative_score),
                            (lora.intervals.eval_loss, lora.eval_loss), (lora.intervals.forgetting_percent, lora.forgetting_percent)):
        assert interval.contains(point)


def test_the_relative_score_interval_widens_when_seeds_disagree_and_matches_one_seed_when_they_agree():
    one_seed = build_comparison(methods=("full", "lora"))
    agreeing, disagreeing = multi_seed_comparison((0, 0, 0)), multi_seed_comparison((-12, 0, 12))
    assert agreeing.result("lora").relative_score == pytest.approx(one_seed.result("lora").relative_score)
    assert relative_width(agreeing) == pytest.approx(relative_width(one_seed), rel=0.15)
    assert relative_width(disagreeing) > 1.3 * relative_width(agreeing)


def test_the_test_against_full_is_a_paired_bootstrap_over_seeds_and_examples_and_recommend_reads_it(tmp_path):
    comparison = multi_seed_comparison((-12, 0, 12))
    versus = comparison.result("lora").versus_full
    assert versus.test.test == "paired_bootstrap" and versus.seeds == 3 and versus.test.examples == 100
    write_reports(comparison, tmp_path)
    stored = read_comparison(tmp_path)
    assert stored == comparison and stored.schema_version == 2
    recommendation = recommend(stored, Constraints())
    details = [check.detail for candidate in recommendation.candidates for check in candidate.checks]
    assert any("100 held-out examples and 3 training seeds" in detail for detail in details)


def test_reports_say_what_the_intervals_cover():
    assert EXAMPLES_ONLY in render_markdown(build_comparison()) and WITH_SEEDS not in render_markdown(build_comparison())
    markdown = render_markdown(multi_seed_comparison((-4, 0, 4)))
    assert WITH_SEEDS in markdown and EXAMPLES_ONLY not in markdown
    assert "training seeds 0, 1, 2" in markdown


def test_seeds_after_the_first_get_their_own_run_folders_and_keep_the_held_out_split(tmp_path, tiny_model):
    config = tiny_comparison(tmp_path, "out", seeds=3, seed=5, eval_data=[], eval_fraction=0.25)
    assert training_seeds(config) == [5, 6, 7]
    assert training_seeds(config.model_copy(update={"training_seed": 40})) == [40, 41, 42]
    assert [run_name("lora", i, s) for i, s in enumerate(training_seeds(config))] == ["lora", "lora-seed6", "lora-seed7"]
    tokenizer = load_tokenizer(tiny_model.path)
    splits = [prepare_data(config.data, config.eval_data, tokenizer, config.model_copy(update={"training_seed": s})).eval for s in (None, 6, 7)]
    assert splits[0] == splits[1] == splits[2]
    assert prepare_data(config.data, config.eval_data, tokenizer, config.model_copy(update={"seed": 6})).eval != splits[0]
    assert CompareConfig.model_validate(config.model_dump() | {"training_seed": 6}).run_seed == 6


class TextPasses:
    """How often each model took in each given text: a global forward pre-hook on embedding layers (every model
    instance has its own), counting the unpadded rows that equal one of the texts."""

    def __init__(self, texts: list[list[int]], pad_token_id: int):
        self.texts, self.pad_token_id = {tuple(text) for text in texts}, pad_token_id
        self.by_model: dict[torch.nn.Module, Counter] = {}

    def __call__(self, module, args):
        if not isinstance(module, torch.nn.Embedding) or not args:
            return
        for row in args[0].tolist():
            while row and row[-1] == self.pad_token_id:
                row.pop()
            if tuple(row) in self.texts:
                self.by_model.setdefault(module, Counter())[tuple(row)] += 1


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, tiny_model):
    """A LoRA comparison with one seed, then the same with --seeds 2 (adds the second seed's run). LoRA alone keeps
    it to two tiny trainings: the paired figures against full FT over seeds are tested above on built results."""
    folder = tmp_path_factory.mktemp("cmp-seeds")
    reference = folder / "reference.txt"  # a slice of the built-in text: the tiny model's byte tokens make the whole one slow
    reference.write_text(reference_text()[:3000])
    one_seed = tiny_comparison(folder, "out", methods=["lora"], reference=reference)
    tokenizer = load_tokenizer(tiny_model.path)
    texts = [e.input_ids for e in reference_examples(tokenizer, reference.read_text())]
    texts += [e.input_ids for e in prepare_data(one_seed.data, one_seed.eval_data, tokenizer, one_seed).eval]
    passes = []
    comparisons = []
    for config in (one_seed, one_seed.model_copy(update={"seeds": 2})):
        passes.append(TextPasses(texts, tokenizer.pad_token_id))
        hook = torch.nn.modules.module.register_module_forward_pre_hook(passes[-1])
        try:
            comparisons.append((compare(config, QUIET), {m: read_run_record(config.out / "runs" / m).run_id for m in config.methods}))
        finally:
            hook.remove()
    return one_seed.out, texts, comparisons, passes


def test_a_second_seed_adds_runs_beside_the_first_and_the_report_combines_them(two_seeds):
    out, _, [(first, first_ids), (second, second_ids)], _ = two_seeds
    assert first_ids == second_ids, "the first seed's runs were reused, not trained again"
    assert first.training_seeds == [0] and first.uncertainty.covers == "examples"
    assert second.training_seeds == [0, 1] and second.uncertainty.covers == "examples_and_seeds"
    assert read_comparison(out) == second
    for result in second.methods:
        assert [run.run_dir for run in result.seed_runs] == [f"runs/{result.method}", f"runs/{result.method}-seed1"]
        assert read_run_record(out / "runs" / f"{result.method}-seed1").config["training_seed"] == 1
        assert (out / "runs" / f"{result.method}-seed1" / EVALUATION_FILE).is_file()
        assert result.per_example is None and result.seed_runs[0].per_example == first.result(result.method).per_example
        assert result.seed_runs[0].per_example.eval_tokens == result.seed_runs[1].per_example.eval_tokens  # the same split
        assert result.task_metric_value == pytest.approx(np.mean([run.task_metric_value for run in result.seed_runs]))
        assert result.eval_loss == pytest.approx(np.mean([run.eval_loss for run in result.seed_runs]))
        assert result.intervals.eval_loss.contains(result.eval_loss)
    lora = second.result("lora")
    adapters = [load_file(str(out / run.run_dir / "adapter_model.safetensors")) for run in lora.seed_runs]
    assert any(not torch.equal(adapters[0][name], adapters[1][name]) for name in adapters[0]), "another seed, another run"
    assert EXAMPLES_ONLY in render_markdown(first)
    assert WITH_SEEDS in (out / "report.md").read_text() and WITH_SEEDS in (out / "report.html").read_text()
    assert json.loads((out / "report.json").read_text())["training_seeds"] == [0, 1]


def test_each_model_takes_in_each_reference_chunk_and_held_out_example_once(two_seeds):
    _, texts, _, passes = two_seeds
    for seen in passes:  # the first call evaluates the seed-0 run, the second only the new one (the first is cached)
        assert len(seen.by_model) == 2, "the bare base and the tuned model of the run, nothing else"
        for counts in seen.by_model.values():
            assert set(counts) == {tuple(text) for text in texts} and set(counts.values()) == {1}
