"""`adaptlab registry ...` end to end: the user story of issue 5 through the command line."""

import json
import subprocess
import sys

import typer
import yaml
from sqlalchemy import text
from typer.testing import CliRunner

from adaptlab.registry import cli as registry_cli
from adaptlab.registry.cli_options import options_first
from adaptlab.registry.errors import AccessDeniedError, GateRefusedError


def test_user_story(run_cli, new_run, tmp_path, tiny_model):
    good = new_run(evaluation={"relative_score": 97.0, "forgetting_percent": 2.0})
    weak = new_run(evaluation={"relative_score": 90.0, "forgetting_percent": 2.0})
    run_cli("tenant", "create", "acme")
    run_cli(
        "gates",
        "set",
        "support-bot",
        "--tenant",
        "acme",
        "--min-metric",
        "relative_score=95",
        "--max-metric",
        "forgetting_percent=5",
        "--approvals",
        "1",
    )

    assert (
        "registered acme/support-bot@v1"
        in run_cli("register", str(good), "--name", "support-bot", "--tenant", "acme", "--by", "trainer-1").output
    )
    assert "acme/support-bot@v2" in run_cli("register", str(weak), "--name", "acme/support-bot", "--by", "trainer-1").output

    run_cli("approve", "acme/support-bot@v1", "--by", "reviewer-1", "--note", "reviewed 50 samples")
    assert "→ v1" in run_cli("promote", "acme/support-bot@v1", "--alias", "production").output
    run_cli("approve", "acme/support-bot@v2", "--by", "reviewer-1", "--note", "ok")
    refused = run_cli("promote", "acme/support-bot@v2", "--alias", "production", ok=False)
    assert isinstance(refused.exception, GateRefusedError)
    assert "relative_score: 90 (needs ≥ 95)" in str(refused.exception)

    run_cli("gates", "set", "acme/support-bot", "--approvals", "1")
    assert "v1 → v2" in run_cli("promote", "acme/support-bot@v2", "--alias", "production").output
    assert "v2 → v1" in run_cli("rollback", "acme/support-bot", "--alias", "production").output

    listing = json.loads(run_cli("list", "--json").output)
    assert [(m["tenant"], m["name"], m["latest_version"], m["aliases"]) for m in listing] == [("acme", "support-bot", 2, {"production": 1})]
    overview = run_cli("show", "acme/support-bot").output
    assert "alias history" in overview and "promotion gates" in overview
    assert overview.count("production") == 3  # v1's alias column, and two history rows (the second rolled back)
    shown = json.loads(run_cli("show", "acme/support-bot@production", "--json").output)
    assert shown["version"] == 1 and shown["approvals"][0]["approver"] == "reviewer-1"

    lineage = json.loads(run_cli("lineage", "acme/support-bot@v1", "--json").output)
    assert lineage["base_model"]["weights_sha256"] == tiny_model.weights_sha256
    assert [f["rows"] for f in lineage["data"]["files"]] == [12, 4]
    assert "base weights sha256" in run_cli("lineage", "acme/support-bot@v1").output

    card_file = tmp_path / "card" / "README.md"
    run_cli("card", "acme/support-bot@v1", "--output", str(card_file))
    assert yaml.safe_load(card_file.read_text().split("---")[1])["library_name"] == "peft"

    bundle = tmp_path / "bundle.tar"
    run_cli("export", "acme/support-bot@v1", str(bundle))
    assert "as acme/support-bot-copy@v1" in run_cli("import", str(bundle), "--name", "support-bot-copy", "--tenant", "acme").output

    audit = run_cli("audit", "--limit", "0").output
    assert "alias.promote_refused" in audit and "alias.rollback" in audit
    assert "hash chain verified" in run_cli("audit", "--verify").output
    assert "removed 0 unreferenced blobs" in run_cli("gc").output


def test_tokens_through_the_cli(run_cli, new_run, registry_location):
    run_cli("tenant", "create", "acme")
    run_cli("tenant", "create", "globex")
    run_cli("register", str(new_run()), "--name", "acme/bot")
    token = run_cli("token", "create", "--tenant", "globex", "--role", "trainer", "--name", "gus").output.strip().splitlines()[-1]
    assert token.startswith("adl_")

    denied = run_cli("show", "acme/bot@v1", "--token", token, ok=False)
    assert isinstance(denied.exception, AccessDeniedError)
    assert "gus (tenant 'globex') may not access tenant 'acme'" in str(denied.exception)
    assert "globex/bot@v1" in run_cli("register", str(new_run()), "--name", "bot", "--token", token).output
    listed = run_cli("token", "list", "--tenant", "globex").output
    assert "gus" in listed and token not in listed
    run_cli("token", "revoke", "1")
    assert "unknown or revoked" in str(run_cli("list", "--token", token, ok=False).exception)
    assert "choose one of" in str(run_cli("token", "create", "--tenant", "acme", "--role", "owner", "--name", "x", ok=False).exception)


def test_tenant_list_gates_show_and_show_version(run_cli, new_run):
    run_cli("tenant", "create", "acme")
    run_cli("tenant", "create", "globex")
    reader = run_cli("token", "create", "--tenant", "globex", "--role", "reader", "--name", "rita").output.strip().splitlines()[-1]
    listed = run_cli("tenant", "list").output
    assert "acme" in listed and "globex" in listed
    scoped = run_cli("tenant", "list", "--token", reader).output
    assert "globex" in scoped and "acme" not in scoped

    run_cli("gates", "set", "acme/bot", "--min-metric", "relative_score=95", "--max-metric", "forgetting_percent=5", "--approvals", "2")
    gates = run_cli("gates", "show", "acme/bot").output
    assert "relative_score" in gates and "≥ 95" in gates and "forgetting_percent" in gates and "≤ 5" in gates
    assert "2 (not the registrant)" in gates

    run = new_run(evaluation={"relative_score": 97.0})
    run_cli("register", str(run), "--name", "acme/bot", "--by", "trainer-1")
    shown = run_cli("show", "acme/bot@v1").output
    assert "acme/bot@v1" in shown and "by trainer-1" in shown and "lora / peft_adapter" in shown
    assert "adapter_model.safetensors" in shown and "relative_score=97" in shown


def test_audit_verify_fails_naming_the_tampered_entry(run_cli, new_run, registry_location):
    run_cli("tenant", "create", "acme")
    run_cli("register", str(new_run()), "--name", "acme/bot")
    run_cli("approve", "acme/bot@v1", "--by", "reviewer-1", "--note", "fine")
    with registry_location.open() as registry, registry.engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'someone-else' WHERE seq = 3"))
    result = run_cli("audit", "--verify", ok=False)
    assert result.exit_code == 1
    assert "audit log broken at entry #3" in result.output and "edited" in result.output


def test_bad_flags_are_explained(run_cli):
    result = run_cli("gates", "set", "acme/bot", "--min-metric", "relative_score", ok=False)
    assert "expected METRIC=NUMBER" in str(result.exception)
    result = run_cli("show", "bot@v1", ok=False)
    assert "which tenant? write tenant/bot or pass --tenant" in str(result.exception)


def test_real_entry_point_prints_errors_without_a_traceback(tmp_path):
    command = [sys.executable, "-m", "adaptlab", "registry"]
    where = ["--registry", str(tmp_path / "registry")]
    subprocess.run([*command, "tenant", "create", "acme", *where], check=True, capture_output=True)
    result = subprocess.run([*command, "promote", "acme/bot@v1", "--alias", "production", *where], capture_output=True, text=True)
    assert result.returncode == 2
    assert "error:" in result.stderr and "no model acme/bot" in result.stderr
    assert "Traceback" not in result.stderr


def test_registry_options_are_taken_before_or_after_the_command(tmp_path):
    app = typer.Typer()
    registry_cli.register(app)
    app.callback()(lambda: None)
    runner = CliRunner(env={"ADAPTLAB_TOKEN": None, "ADAPTLAB_REGISTRY": None})
    before, after = tmp_path / "before", tmp_path / "after"
    assert runner.invoke(app, ["registry", "--registry", str(before), "tenant", "create", "acme"]).exit_code == 0
    assert runner.invoke(app, ["registry", "tenant", "create", "globex", f"--registry={after}"]).exit_code == 0
    assert "acme" in runner.invoke(app, ["registry", "tenant", "list", "--registry", str(before)]).output
    assert "globex" in runner.invoke(app, ["registry", "--registry", str(after), "tenant", "list"]).output

    untouched = tmp_path / "untouched"
    helped = runner.invoke(app, ["registry", "show", "--help", "--registry", str(untouched), "--token", "adl_not-a-token"])
    assert helped.exit_code == 0 and "versions, aliases and alias history" in helped.output
    assert not untouched.exists()


def test_options_first_moves_only_the_named_options():
    names = {"--registry", "--token"}
    assert options_first(["show", "bot@v1", "--registry", "r", "--tenant", "acme", "--token=t"], names) == [
        "--registry",
        "r",
        "--token=t",
        "show",
        "bot@v1",
        "--tenant",
        "acme",
    ]
    assert options_first(["approve", "bot@v1", "--", "--token", "t"], names) == ["approve", "bot@v1", "--", "--token", "t"]
    assert options_first(["list", "--registry"], names) == ["list", "--registry"]
