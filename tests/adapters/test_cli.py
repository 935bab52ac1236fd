import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from adaptlab.adapters.cli import parse_weights, register
from adaptlab.adapters.merge import read_merge_record
from adaptlab.adapters.metadata import read_adapter_metadata
from adaptlab.errors import CompatibilityError, ConfigError


@pytest.fixture
def invoke():
    app = typer.Typer()
    register(app)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return run


def test_inspect_prints_a_table_or_json(invoke, make_adapter, tiny_model):
    adapter = make_adapter("a", seed=1, rank=4)
    table = invoke("adapters", "inspect", adapter)
    assert table.exit_code == 0, table.output
    assert "rank / alpha / scaling" in table.output and "4 / 8 / 2" in table.output
    assert tiny_model.weights_sha256[:16] in table.output
    as_json = invoke("adapters", "inspect", adapter, "--json")
    assert json.loads(as_json.output)["rank"] == 4


def test_merge_combine_and_generate_end_to_end(invoke, make_adapter, tmp_path):
    a = make_adapter("a", seed=1, targets=["q_proj", "v_proj"])
    b = make_adapter("b", seed=2, targets=["q_proj", "v_proj"])

    merged = invoke("merge", a, "--out", tmp_path / "merged", "--verify")
    assert merged.exit_code == 0, merged.output
    assert "verified" in merged.output and read_merge_record(tmp_path / "merged").verification is not None

    combined = invoke("combine", a, b, "--weights", "0.7,0.3", "--how", "ties", "--out", tmp_path / "ab")
    assert combined.exit_code == 0, combined.output
    assert read_adapter_metadata(tmp_path / "ab").method == "combine:ties"

    stacked = invoke("generate", "--model", "builtin:tiny", "--adapter", a, "--adapter", b,
                     "--adapter-weight", "0.5", "--adapter-weight", "1.5", "--prompt", "hello", "--max-new-tokens", "8", "--json")
    assert stacked.exit_code == 0, stacked.output
    assert json.loads(stacked.output)["chat_template"] is True

    from_merged = invoke("generate", "--model", tmp_path / "merged", "--prompt", "hello", "--max-new-tokens", "8")
    assert from_merged.exit_code == 0, from_merged.output
    assert "tokens/s" in from_merged.output


def test_user_errors_surface_as_adaptlab_errors(invoke, make_adapter, other_base, tmp_path):
    a = make_adapter("a", seed=1)
    wrong_base = invoke("merge", a, "--out", tmp_path / "m", "--model", other_base.path)
    assert isinstance(wrong_base.exception, CompatibilityError)
    assert not (tmp_path / "m").exists()
    weights_count = invoke("generate", "--adapter", a, "--adapter-weight", "1", "--adapter-weight", "2", "--prompt", "x")
    assert isinstance(weights_count.exception, ConfigError)


def test_a_choice_outside_the_literal_is_a_usage_error_naming_the_flag_and_choices(invoke, make_adapter, tmp_path):
    a = make_adapter("a", seed=1)
    bad_how = invoke("combine", a, a, "--how", "average", "--out", tmp_path / "c")
    assert bad_how.exit_code == 2 and "--how" in bad_how.output and "'linear'" in bad_how.output
    bad_into = invoke("merge", a, "--into", "half", "--out", tmp_path / "m")
    assert bad_into.exit_code == 2 and "--into" in bad_into.output and "'dequantized'" in bad_into.output
    assert not (tmp_path / "c").exists() and not (tmp_path / "m").exists()


def test_parse_weights():
    assert parse_weights("0.7,0.3", 2) == [0.7, 0.3]
    assert parse_weights(None, 3) == [1.0, 1.0, 1.0]
    with pytest.raises(ConfigError, match="comma-separated"):
        parse_weights("0.7;0.3", 2)
    with pytest.raises(ConfigError, match="one per adapter"):
        parse_weights("1,2,3", 2)


def test_the_adaptlab_command_prints_errors_without_a_stack_trace(make_adapter):
    adapter = make_adapter("broken")
    (adapter / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    done = subprocess.run([sys.executable, "-m", "adaptlab", "adapters", "inspect", str(adapter)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert "error:" in done.stderr and "adapter_model.safetensors" in done.stderr
    assert "Traceback" not in done.stderr
