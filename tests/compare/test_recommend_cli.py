import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adaptlab.cli import app
from adaptlab.compare.cli import parse_bytes
from adaptlab.compare.report import write_reports
from adaptlab.compare.settings_checks import MethodSettings, settings_warnings
from adaptlab.errors import ConfigError
from adaptlab.methods import METHODS
from tests.compare.conftest import build_comparison

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "size"),
    [("8GB", 8 * 1024**3), ("8 GiB", 8 * 1024**3), ("512MB", 512 * 1024**2), ("1.5G", int(1.5 * 1024**3)), ("64kb", 64 * 1024), ("100B", 100)],
)
def test_parse_bytes(text, size):
    assert parse_bytes(text) == size


@pytest.mark.parametrize("text", ["8", "eight GB", "8 GX", "-1GB", ""])
def test_parse_bytes_refuses_sizes_without_a_unit_or_number(text):
    with pytest.raises(ConfigError, match="--memory-budget: cannot read"):
        parse_bytes(text)


def _comparison_dir(tmp_path: Path, fixture: str) -> Path:
    folder = tmp_path / fixture
    folder.mkdir()
    (folder / "report.json").write_bytes((FIXTURES / f"{fixture}.json").read_bytes())
    return folder


def test_recommend_prints_the_choice_and_a_table(tmp_path):
    result = runner.invoke(app, ["recommend", str(_comparison_dir(tmp_path, "small_model")), "--memory-budget", "8GB", "--tenants", "20",
                                 "--min-quality", "0.98"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "Recommendation: Hybrid" in result.output
    assert "serving 20 tenants with Full FT needs 20 × 515.0 MB models = 10.1 GB" in result.output
    assert "constraints per candidate" in result.output


def test_recommend_json_and_exit_code_when_nothing_fits(tmp_path):
    result = runner.invoke(app, ["recommend", str(_comparison_dir(tmp_path, "small_model")), "--min-quality", "0.98",
                                 "--max-forgetting", "5", "--json"])
    assert result.exit_code == 1
    recommendation = json.loads(result.output)
    assert recommendation["choice"] is None
    assert recommendation["constraints"] == {"memory_budget_bytes": None, "tenants": 1, "min_quality": 0.98,
                                             "max_forgetting_percent": 5.0, "budget_usd": None, "quality_bound": "upper",
                                             "forgetting_bound": "lower", "prefer": []}
    assert {c["choice"]: [k["status"] for k in c["checks"]] for c in recommendation["candidates"]} == {
        "lora": ["fail", "pass"], "qlora": ["fail", "pass"], "full": ["pass", "fail"]}


def test_min_quality_zero_ignores_quality(tmp_path):
    result = runner.invoke(app, ["recommend", str(_comparison_dir(tmp_path, "small_model")), "--min-quality", "0", "--memory-budget", "1GB", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output)["choice"] == "qlora"


def test_user_errors_are_one_readable_line(tmp_path):
    env = os.environ | {"COLUMNS": "200", "TERM": "dumb"}
    bad_size = subprocess.run([sys.executable, "-m", "adaptlab", "recommend", str(tmp_path), "--memory-budget", "lots"],
                              capture_output=True, text=True, env=env, timeout=60)
    assert bad_size.returncode == 2
    assert "error: --memory-budget: cannot read 'lots' as a size" in bad_size.stderr
    assert "Traceback" not in bad_size.stderr
    no_report = subprocess.run([sys.executable, "-m", "adaptlab", "recommend", str(tmp_path)], capture_output=True, text=True, env=env, timeout=60)
    assert no_report.returncode == 2
    assert "no comparison report here" in no_report.stderr


def test_recommend_without_a_comparison_estimates_every_method(tmp_path):
    data = tmp_path / "train.jsonl"
    rows = [{"prompt": f"Rewrite in house style: the manager saw bug {i}.", "completion": f"The team lead saw defect {i}."} for i in range(16)]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = runner.invoke(app, ["recommend", "--model", "builtin:tiny", "--data", str(data), "--memory-budget", "1GB", "--tenants", "3", "--json"])
    assert result.exit_code == 0, result.output
    recommendation = json.loads(result.output[result.output.index("{"):])
    assert recommendation["basis"] == "dry_run"
    order = [c["choice"] for c in recommendation["candidates"]]
    assert sorted(order) == sorted(METHODS)
    assert order[:2] == ["lora", "qlora"] and order[-2:] == ["hybrid", "full"]  # per-row adapters first, whole models last
    assert recommendation["choice"] == "lora"
    assert any("dry-run estimates carry no quality figures" in line for line in recommendation["unchecked"])


def test_recommend_needs_a_comparison_or_a_model():
    result = runner.invoke(app, ["recommend"])
    assert isinstance(result.exception, ConfigError)
    assert "pass a comparison folder" in str(result.exception)


def test_write_report_re_renders_markdown_and_html_with_the_users_constraints(tmp_path):
    folder = _comparison_dir(tmp_path, "small_model")
    stored = (folder / "report.json").read_bytes()
    result = runner.invoke(app, ["recommend", str(folder), "--min-quality", "0.98", "--tenants", "20", "--memory-budget", "8GB",
                                 "--write-report"])
    assert result.exit_code == 0, result.output
    markdown = (folder / "report.md").read_text()
    assert "## Recommendation: Hybrid" in markdown
    assert "20 tenants served from one deployment; memory budget 8.0 GB; relative score at least 98.0" in markdown
    assert "Recommendation: Hybrid" in (folder / "report.html").read_text()
    assert (folder / "report.json").read_bytes() == stored  # the measured data is not rewritten


def test_write_report_needs_a_comparison_folder():
    result = runner.invoke(app, ["recommend", "--model", "builtin:tiny", "--write-report"])
    assert isinstance(result.exception, ConfigError)
    assert "--write-report needs a comparison folder" in str(result.exception)


def test_write_report_on_a_measured_comparison_keeps_its_intervals(tmp_path, make_comparison):
    (tmp_path / "report.json").write_text(make_comparison().model_dump_json())
    result = runner.invoke(app, ["recommend", str(tmp_path), "--quality-bound", "lower", "--write-report"])
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "report.md").read_text()
    opening = markdown[: markdown.index("## Results")]
    assert "## Recommendation: Full FT" in opening and "checked on the lower bound of its 95 % interval" in opening
    assert "LoRA was not chosen: LoRA relative score 96.2 (95 % CI" in opening and "lower bound" in opening
    assert "| LoRA |" in markdown and "96.2 (" in markdown


def test_recommend_prints_the_comparisons_warnings(tmp_path):
    note = "LoRA kept 0.90 cores busy on average (CPU time / wall time), Full FT 1.90: LoRA waited for the CPU"
    found = settings_warnings([MethodSettings("Full FT", False, 1e-5, 10**8), MethodSettings("LoRA", True, 2e-4, 10**6)],
                              ["q_proj", "v_proj"], train_target_tokens=1000, rows_per_step=4)
    write_reports(build_comparison().model_copy(update={"timing_notes": [note], "settings_warnings": found}), tmp_path)
    result = runner.invoke(app, ["recommend", str(tmp_path)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert note in result.output and "Settings: lora_not_on_mlp" in result.output

    quiet = tmp_path / "quiet"
    write_reports(build_comparison(), quiet)
    assert "warning" not in runner.invoke(app, ["recommend", str(quiet)], env={"COLUMNS": "400"}).output


def test_prefer_is_a_comma_separated_order_and_unknown_names_are_an_error():
    fixture = str(Path(__file__).parent / "fixtures" / "small_model.json")
    result = runner.invoke(app, ["recommend", fixture, "--prefer", "qlora,lora", "--json"])
    assert result.exit_code == 0, result.output
    recommendation = json.loads(result.output[result.output.index("{"):])
    assert [c["choice"] for c in recommendation["candidates"]][:2] == ["qlora", "lora"]
    assert recommendation["constraints"]["prefer"] == ["qlora", "lora"]
    refused = runner.invoke(app, ["recommend", fixture, "--prefer", "lora,bottleneck"])
    assert isinstance(refused.exception, ConfigError)
    assert "prefer (--prefer): " in str(refused.exception) and "unknown candidates ['bottleneck']" in str(refused.exception)
