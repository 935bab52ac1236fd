"""`adaptlab review` end to end through the CLI (in-process): create, next, vote with a reviewer's token, status,
export, and `registry gates set --min-review-win-rate` naming the review gate when `promote` is refused."""

import json

import typer
from typer.testing import CliRunner

from adaptlab.registry import GatePolicy, Role
from adaptlab.registry import cli as registry_cli


def test_review_flow_from_the_command_line(registry, registry_location, admin, new_run, tmp_path):
    registry.create_tenant(admin, "acme")
    registry.set_gates(admin, "acme/bot", GatePolicy(required_approvals=0))
    registry.register(admin, new_run(adapter_seed=0), "acme/bot", by="tom")
    registry.register(admin, new_run(adapter_seed=1), "acme/bot", by="tom")
    registry.promote(admin, "acme/bot@v1", "production")
    rita = registry.create_token(admin, "acme", Role.reviewer, "rita")
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("prompt\nWrite item 1\nWrite item 2\nWrite item 3\n")

    app = typer.Typer()
    registry_cli.register(app)
    app.callback()(lambda: None)
    runner = CliRunner(env={"COLUMNS": "250", "ADAPTLAB_TOKEN": None, "ADAPTLAB_TENANT": None})
    where = ["--registry", str(registry_location.root)] + (["--db", registry_location.db] if registry_location.db else [])

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, [*args, *where])
        assert (result.exit_code == 0) == ok, (result.output, result.exception)
        return result

    def refusal(*args: str) -> str:
        return str(run(*args, ok=False).exception)

    created = run("review", "create", "acme/bot@v2", "--against", "acme/bot@production", "--prompts", str(prompts), "--n", "2",
                  "--max-new-tokens", "4")
    assert "review set 1: acme/bot@v2 vs acme/bot@v1 (production), 2 items" in created.output

    queue = json.loads(run("review", "next", "1", "--json", "--token", rita).output)
    assert (queue["done"], queue["total"], queue["items"][0]["item"]) == (0, 2, 1)
    assert queue["items"][0]["prompt"] == [{"role": "user", "content": "Write item 1"}]
    assert "item 1 (0 of 2 done)" in run("review", "next", "1", "--token", rita).output
    assert "1 of 2 done" in run("review", "vote", "1", "1", "A", "--correct", "Item one.", "--token", rita).output
    assert "already voted" in refusal("review", "vote", "1", "1", "b", "--token", rita)

    status = json.loads(run("review", "status", "1", "--json").output)[0]
    assert status["votes"] == 1 and status["reviewers"] == {"acme/rita": 1}
    assert "1 reviewer, 1 votes on 2 items" in run("review", "status", "acme/bot@v2").output

    out = tmp_path / "corrections.jsonl"
    assert "wrote 1 corrected answers" in run("review", "export", "1", "--corrections", str(out)).output
    assert json.loads(out.read_text()) == {"prompt": "Write item 1", "completion": "Item one."}

    run("registry", "gates", "set", "acme/bot", "--min-review-win-rate", "0.5", "--min-reviews", "30", "--approvals", "0")
    assert "review #1: 1 of 30 votes required" in refusal("registry", "promote", "acme/bot@v2", "--alias", "production")
    assert "role reviewer; promote needs one of" in refusal("registry", "promote", "acme/bot@v2", "--alias", "x", "--token", rita)
