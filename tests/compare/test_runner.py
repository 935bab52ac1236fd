"""`adaptlab compare` end to end on builtin:tiny: three real runs, three report files, fair by construction."""

import json
import subprocess

import pytest
import torch
from rich.console import Console
from safetensors.torch import load_file

from adaptlab.compare.evaluation import EVALUATION_CACHE_VERSION
from adaptlab.compare.config import LR_SWEEP_FACTORS, LR_SWEEP_VALIDATION_FRACTION, CompareConfig
from adaptlab.compare.formatting import format_lr
from adaptlab.compare.runner import checked_settings, compare, metric_examples, task_metric_name
from adaptlab.compare.schema import read_comparison
from adaptlab.data import prepare_data
from adaptlab.data.glossary_task import glossary_task, write_jsonl
from adaptlab.errors import AdaptlabError, ConfigError
from adaptlab.eval.forgetting import reference_examples, reference_text
from adaptlab.eval.generation import task_items
from adaptlab.eval.loss import evaluate_loss
from adaptlab.models import load_causal_lm, load_tokenizer
from adaptlab.registry.lineage import capture_run
from adaptlab.schemas.run_record import read_run_record
from tests.train.test_resume import kill_launcher

QUIET = Console(quiet=True)


def tiny_comparison(folder, out_name: str, **overrides) -> CompareConfig:
    """A comparison on builtin:tiny over the glossary rows in `folder` (written once), four steps per method."""
    if not (folder / "train.jsonl").exists():
        train_rows, eval_rows = glossary_task(24, 8, seed=0)
        write_jsonl(train_rows, folder / "train.jsonl")
        write_jsonl(eval_rows, folder / "eval.jsonl")
    settings = dict(
        model="builtin:tiny", data=[folder / "train.jsonl"], eval_data=[folder / "eval.jsonl"], out=folder / out_name,
        methods=["full", "lora", "qlora"], max_steps=4, micro_batch_size=4, max_seq_len=256, rank=4,
        learning_rates={"full": 1e-3, "lora": 1e-2, "qlora": 1e-2}, metric="exact_match", max_new_tokens=8,
        precision="fp32", packing=False,
    )
    return CompareConfig(**(settings | overrides))


def reference_loss(base, load_in_4bit: bool) -> float:
    tokenizer = load_tokenizer(base.path)
    model = load_causal_lm(base.path, load_in_4bit=load_in_4bit)
    return evaluate_loss(model, reference_examples(tokenizer, reference_text()), tokenizer.pad_token_id).loss


@pytest.fixture(scope="module")
def comparison_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp")
    config = tiny_comparison(folder, "out")
    compare(config, QUIET)
    return folder, config


def test_writes_all_three_reports_with_every_column_filled(comparison_dir):
    folder, _ = comparison_dir
    out = folder / "out"
    for name in ("report.md", "report.html", "report.json"):
        assert (out / name).stat().st_size > 0
    comparison = read_comparison(out)
    assert [r.method for r in comparison.methods] == ["full", "lora", "qlora"]
    for result in comparison.methods:
        row = result.model_dump()
        empty = [key for key, value in row.items() if value is None]
        assert empty == ([] if result.method != "full" else ["versus_full"]), f"{result.method}: empty columns {empty}"  # full is the reference
        assert result.peak_memory_bytes > 0 and result.train_time_s > 0 and result.tokens_per_s > 0
        assert result.artifact_size_bytes > 0 and result.cost_usd > 0
        assert result.learning_rate_source == "user"
    assert "| LoRA |" in (out / "report.md").read_text()


def test_equal_token_budgets_and_full_is_the_100_reference(comparison_dir):
    folder, _ = comparison_dir
    comparison = read_comparison(folder / "out")
    assert {r.tokens_seen for r in comparison.methods} == {comparison.data.token_budget}
    assert comparison.result("full").relative_score == pytest.approx(100.0)
    lora = comparison.result("lora")
    assert lora.trainable_params < comparison.result("full").trainable_params
    assert lora.artifact_size_bytes < comparison.result("full").artifact_size_bytes


def test_per_example_scores_are_kept_and_every_quality_figure_has_an_interval(comparison_dir):
    folder, config = comparison_dir
    comparison = read_comparison(folder / "out")
    assert comparison.schema_version == 2 and comparison.uncertainty.bootstrap_seed == config.seed
    full = comparison.result("full")
    for result in comparison.methods:
        scores = result.per_example
        assert len(scores.task_metric) == comparison.task_metric.examples
        assert result.task_metric_value == pytest.approx(sum(scores.task_metric) / len(scores.task_metric))
        assert len(scores.eval_losses) == len(scores.eval_tokens) == comparison.data.eval_examples
        assert result.eval_loss == pytest.approx(sum(l * t for l, t in zip(scores.eval_losses, scores.eval_tokens)) / sum(scores.eval_tokens))
        assert scores.reference_tokens == full.per_example.reference_tokens and sum(scores.reference_tokens) > 0
        assert result.intervals.eval_loss.contains(result.eval_loss)
        assert result.intervals.forgetting_percent.contains(result.forgetting_percent)
        assert result.intervals.task_metric.contains(result.task_metric_value)
    on_metric = comparison.relative_score_basis == "task_metric"  # a random tiny model may score 0 and fall back to loss
    for result in comparison.methods[1:]:
        assert result.versus_full.test.test == ("mcnemar_exact" if on_metric else "paired_bootstrap")
        assert result.versus_full.test.examples == (comparison.task_metric.examples if on_metric else comparison.data.eval_examples)
        assert result.intervals.relative_score.contains(result.relative_score)
    cached = json.loads((folder / "out" / "evaluation" / "lora.json").read_text())
    assert cached["key"]["version"] == EVALUATION_CACHE_VERSION and cached["result"]["per_example"] == comparison.result("lora").per_example.model_dump()


def test_report_carries_timings_and_settings_checks_of_its_runs(comparison_dir):
    folder, config = comparison_dir
    out = folder / "out"
    comparison = read_comparison(out)
    for result in comparison.methods:
        record = read_run_record(out / result.run_dir)
        assert result.process_cpu_time_s == record.metrics.process_cpu_time_s > 0
        assert result.background_busy_cores == pytest.approx(record.load.mean_background_cores)
        assert result.cost_basis == ("cpu_time" if comparison.timing_notes else "wall_time")
    tokens = read_run_record(out / "runs" / "lora").data.train_target_tokens
    assert comparison.settings_warnings == checked_settings(config, comparison.methods, tokens)
    assert "lora_learning_rate" not in {w.rule for w in comparison.settings_warnings}  # 1e-2 is 10× full's 1e-3
    attention_only = checked_settings(config.model_copy(update={"target_modules": ["q_proj", "v_proj"]}), comparison.methods, tokens)
    assert "lora_not_on_mlp" in {w.rule for w in attention_only}


def test_forgetting_is_measured_against_the_base_each_method_trained_on(comparison_dir, tiny_model):
    folder, _ = comparison_dir
    comparison = read_comparison(folder / "out")
    before = {"base": reference_loss(tiny_model, load_in_4bit=False), "base-4bit": reference_loss(tiny_model, load_in_4bit=True)}
    assert before["base-4bit"] != pytest.approx(before["base"], rel=1e-6)
    for result in comparison.methods:
        expected = before["base-4bit" if result.method == "qlora" else "base"]
        assert result.reference_loss_before == pytest.approx(expected, rel=1e-6)
        assert result.forgetting_percent == pytest.approx(100 * (result.reference_loss_after - expected) / expected)
    assert comparison.result("full").reference_loss_after != pytest.approx(before["base"], rel=1e-6)


def test_each_run_folder_gets_the_gate_metrics_the_registry_reads(comparison_dir):
    folder, _ = comparison_dir
    comparison = read_comparison(folder / "out")
    quantization_error = 100 * (comparison.result("qlora").reference_loss_before / comparison.result("full").reference_loss_before - 1)
    for result in comparison.methods:
        metrics = capture_run(folder / "out" / result.run_dir).lineage.evaluation_metrics
        assert metrics["relative_score"] == pytest.approx(result.relative_score)
        assert metrics["forgetting_percent"] == pytest.approx(result.forgetting_percent)
        assert metrics["exact_match"] == pytest.approx(result.task_metric_value)
        assert ("quantization_error_percent" in metrics) == (result.method == "qlora")
    qlora = capture_run(folder / "out" / "runs" / "qlora").lineage.evaluation_metrics
    assert qlora["quantization_error_percent"] == pytest.approx(quantization_error)


def test_rerun_reuses_finished_runs_and_refuses_other_settings(comparison_dir):
    folder, config = comparison_dir
    out = folder / "out"
    run_ids = {m: json.loads((out / "runs" / m / "run.json").read_text())["run_id"] for m in config.methods}
    compare(config, QUIET)
    assert run_ids == {m: json.loads((out / "runs" / m / "run.json").read_text())["run_id"] for m in config.methods}
    with pytest.raises(ConfigError, match="other settings"):
        compare(config.model_copy(update={"rank": 8}), QUIET)


def test_lr_sweep_tries_several_rates_and_keeps_the_best_by_validation_loss(comparison_dir):
    folder, _ = comparison_dir
    config = tiny_comparison(folder, "swept", methods=["lora"], lr_sweep=True)
    comparison = compare(config, QUIET)
    report = (config.out / "report.md").read_text()
    for result in comparison.methods:
        start = config.learning_rates[result.method]
        assert sorted(t.learning_rate for t in result.lr_sweep) == pytest.approx(sorted(start * f for f in LR_SWEEP_FACTORS))
        assert len({t.eval_loss for t in result.lr_sweep}) == len(LR_SWEEP_FACTORS)
        best = min(result.lr_sweep, key=lambda trial: trial.eval_loss)
        assert result.learning_rate_source == "sweep" and result.learning_rate == best.learning_rate
        assert f"{format_lr(result.learning_rate)}, best of a sweep" in report
        assert f"| {format_lr(result.learning_rate)} (swept) |" in report
        trial = json.loads((config.out / "sweeps" / f"{result.method}-lr{best.learning_rate:.2e}" / "run.json").read_text())
        assert trial["config"]["eval_data"] == [] and trial["config"]["eval_fraction"] == LR_SWEEP_VALIDATION_FRACTION
        assert trial["data"]["eval_examples"] + trial["data"]["train_examples"] == comparison.data.train_examples
        assert trial["metrics"]["eval_loss"] == best.eval_loss


def test_rerun_resumes_an_interrupted_run_from_its_checkpoint(comparison_dir, monkeypatch):
    folder, _ = comparison_dir
    config = tiny_comparison(folder, "interrupted", methods=["lora"], save_every=1)
    real_run = subprocess.run
    commands = []

    def killed_at_third_checkpoint(command, *args, **kwargs):
        commands.append(command)
        return real_run([*kill_launcher("checkpoint-write"), *command[3:]], *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", killed_at_third_checkpoint)
    with pytest.raises(AdaptlabError, match="Run the same command again to resume"):
        compare(config, QUIET)
    run_dir = config.out / "runs" / "lora"
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"

    monkeypatch.setattr(subprocess, "run", lambda command, *args, **kwargs: commands.append(command) or real_run(command, *args, **kwargs))
    compare(config, QUIET)
    assert "--resume" in commands[-1]
    uninterrupted = load_file(str(folder / "out" / "runs" / "lora" / "adapter_model.safetensors"))
    resumed = load_file(str(run_dir / "adapter_model.safetensors"))
    assert uninterrupted.keys() == resumed.keys()
    assert all(torch.equal(uninterrupted[name], resumed[name]) for name in uninterrupted)


def test_train_on_prompt_keeps_the_task_metric_on_the_same_prompts_and_answers(tmp_path, tiny_model):
    tokenizer = load_tokenizer(tiny_model.path)
    items = {}
    for train_on_prompt in (False, True):
        config = tiny_comparison(tmp_path, "out", train_on_prompt=train_on_prompt)
        data = prepare_data(config.data, config.eval_data, tokenizer, config)
        items[train_on_prompt] = task_items(metric_examples(config, data, tokenizer), tokenizer)
        assert task_metric_name(config, items[train_on_prompt]) == "exact_match"
    assert len(items[True]) == 8 and items[True] == items[False]


def test_a_named_metric_without_answers_to_score_refuses_to_start(tmp_path):
    write_jsonl([{"text": f"plain sentence number {i} without any prompt."} for i in range(24)], tmp_path / "text.jsonl")
    config = tiny_comparison(tmp_path, "out", data=[tmp_path / "text.jsonl"], eval_data=[], eval_fraction=0.25)
    with pytest.raises(ConfigError, match="--metric exact_match: the held-out rows have no prompt and answer"):
        compare(config, QUIET)
    assert not config.out.exists(), "nothing was trained or written"
    auto = config.model_copy(update={"metric": "auto"})
    assert task_metric_name(auto, []) is None


def test_contaminated_held_out_rows_are_warned_about_and_dropped_with_decontaminate(tmp_path):
    config = tiny_comparison(tmp_path, "out", methods=["lora"])
    train_lines = (tmp_path / "train.jsonl").read_text().splitlines()
    with (tmp_path / "eval.jsonl").open("a") as held_out:
        held_out.write("".join(line + "\n" for line in train_lines[:5]))
    console = Console(record=True, width=300)
    compare(config, console)
    assert "5 of 13 held-out rows equal (5) or nearly equal (0) a training row" in console.export_text()
    assert read_comparison(config.out).data.eval_examples == 13
    assert "5 of 13 held-out rows equal (5) or nearly equal (0) a training row" in (config.out / "report.md").read_text()
    assert "held-out contamination" in (config.out / "report.html").read_text()

    decontaminated = config.model_copy(update={"out": tmp_path / "clean", "decontaminate": True})
    console = Console(record=True, width=300)
    compare(decontaminated, console)
    assert "--decontaminate dropped them from the held-out set (8 left)" in console.export_text()
    assert read_comparison(decontaminated.out).data.eval_examples == 8
