"""The `adaptlab train` command line: YAML + flags, clear errors, nothing written on bad input."""

import json
import subprocess
import sys

from rich.console import Console

from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.cli import stored_config
from adaptlab.train.dry_run import dry_run, print_dry_run
from tests.cli_help import assert_every_field_has_a_typed_flag
from tests.train.cli_runs import quiet_env, run, train_argv
from tests.train.helpers import tiny_config, write_copy_task


def adaptlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adaptlab", *args], capture_output=True, text=True, env=quiet_env(), timeout=300)


def test_yaml_config_with_flag_override(tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl", rows=16)
    config = tmp_path / "run.yaml"
    config.write_text(f"model: builtin:tiny\nmethod: lora\ndata: [{data}]\nmax_steps: 3\nmicro_batch_size: 4\nrank: 4\nmax_seq_len: 64\n")
    run([sys.executable, "-m", "adaptlab", "train", "--config", str(config), "--rank", "2", "--out", str(tmp_path / "out")])
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert record["config"]["rank"] == 2 and record["config"]["max_steps"] == 3
    assert json.loads((tmp_path / "out" / "adapter_config.json").read_text())["r"] == 2


def test_unknown_yaml_key_names_the_key_and_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model: builtin:tiny\nlerning_rate: 0.1\n")
    result = adaptlab("train", "--config", str(config), "--out", str(tmp_path / "out"), "--data", "x.jsonl")
    assert result.returncode == 2
    assert "lerning_rate" in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_rows_are_reported_and_nothing_is_written(tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl", rows=8)
    with data.open("a") as handle:
        handle.write('{"prompt": "x"}\n')
        handle.write("{not json\n")
    out = tmp_path / "out"
    result = adaptlab(*train_argv(data, out)[3:], "--max-steps", "2")
    assert result.returncode == 2, result.stderr
    assert f"{data}:9:" in result.stderr and f"{data}:10:" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_refuses_a_non_empty_output_folder(tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl", rows=8)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    result = adaptlab(*train_argv(data, out)[3:], "--max-steps", "2")
    assert result.returncode == 2 and "not empty" in result.stderr
    assert (out / "keep.txt").read_text() == "precious"


def test_dry_run_prints_params_and_memory_without_training(tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl", rows=8)
    out = tmp_path / "out"
    result = run([*train_argv(data, out), "--dry-run"])
    assert "trainable params" in result.stdout and "estimated memory" in result.stdout
    assert "compute per step" not in result.stdout
    assert not out.exists()


def test_dry_run_says_what_makes_a_dora_step_costlier(tmp_path):
    console = Console(record=True, width=200)
    print_dry_run(dry_run(tiny_config(tmp_path, "dora")), console)
    text = console.export_text()
    assert "compute per step" in text and "norm of each adapted weight" in text


def test_help_has_a_typed_flag_for_every_config_field():
    assert_every_field_has_a_typed_flag("train", TrainConfig)


def test_bad_flag_values_are_errors_naming_the_flag(tmp_path):
    for flag, value in (("--rank", "eight"), ("--rank", "0"), ("--method", "lorax"), ("--learning-rate", "fast")):
        result = adaptlab("train", flag, value, "--model", "builtin:tiny", "--data", "x.jsonl", "--out", str(tmp_path / "out"))
        assert result.returncode == 2 and flag in result.stderr, (flag, value, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_resume_refuses_a_config_or_flags_that_would_change_the_run(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text('{"status": "running"}')
    config = tmp_path / "run.yaml"
    config.write_text("rank: 2\n")
    for extra, named in ((["--config", str(config)], "--config"), (["--rank", "2"], "--rank")):
        result = adaptlab("train", "--resume", "--out", str(run_dir), *extra)
        assert result.returncode == 2 and named in result.stderr and "run.json" in result.stderr, result.stderr
    assert [path.name for path in run_dir.iterdir()] == ["run.json"]
    assert (run_dir / "run.json").read_text() == '{"status": "running"}'
    without_out = adaptlab("train", "--resume")
    assert without_out.returncode == 2 and "--out" in without_out.stderr


def test_resume_may_add_allow_pickle_and_nothing_else(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    stored = tiny_config(tmp_path, "lora").model_dump(mode="json")
    (run_dir / "run.json").write_text(json.dumps({"status": "running", "config": stored}))
    assert stored_config(None, {"out": str(run_dir)}).allow_pickle is False
    resumed = stored_config(None, {"out": str(run_dir), "allow_pickle": True})
    assert resumed.allow_pickle is True and resumed.model_dump(mode="json") == stored | {"allow_pickle": True}
