"""A real registry for the console: tenant acme with a trainer, an approver, a reader, a reviewer and an admin
token; `acme/bot` v1 (a real PEFT LoRA adapter for builtin:tiny, with evaluation.json figures and intervals)
with a comparison report attached, and v2 judged against v1 in a review set of REVIEW_ITEMS prompts whose
answers the two adapters generated. Each test gets a fresh copy (the console changes it)."""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from adaptlab.console.config import ConsoleConfig
from adaptlab.registry import GatePolicy, Registry, local_admin
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

MODEL = "bot"
REVIEW_ITEMS = 4
REPORT_SCRIPT_MARK = "report-script-ran"  # what the attached report's script would write if it could run


@dataclass(frozen=True)
class ConsoleWorld:
    root: Path
    tokens: dict[str, str]  # role -> token of tenant acme (trainer tom, approver ann, reader rita, admin ada)

    def open(self) -> Registry:
        return Registry.open(self.root)

    def config(self, **overrides) -> ConsoleConfig:
        return ConsoleConfig(registry=self.root, port=0, **overrides)


def write_report_folder(folder: Path) -> Path:
    """A comparison folder's reports; report.html carries a script that must never run inside the console."""
    folder.mkdir(parents=True)
    (folder / "report.html").write_text(
        "<!doctype html><html><body><h1>LoRA vs full fine-tuning</h1><p id='verdict'>LoRA reaches 97 % of full FT.</p>"
        f"<script>document.body.innerHTML = '{REPORT_SCRIPT_MARK}'; parent.document.title = '{REPORT_SCRIPT_MARK}';</script>"
        "</body></html>"
    )
    (folder / "report.md").write_text("# LoRA vs full fine-tuning\n")
    return folder


@pytest.fixture(scope="session")
def console_template(tiny_model, tmp_path_factory) -> ConsoleWorld:
    base = tmp_path_factory.mktemp("console")
    adapter = save_lora_adapter(tiny_model, base / "adapter", seed=3)
    run = make_run(adapter, tiny_model, write_dataset(base / "data"), base / "run")
    (run / "evaluation.json").write_text(
        json.dumps(
            {
                "metrics": {"relative_score": 97.5, "exact_match": 0.62},
                "measured_by": "adaptlab compare",
                "intervals": {"relative_score": {"low": 94.1, "high": 100.9}, "exact_match": {"low": 0.51, "high": 0.73}},
            }
        )
    )
    root = base / "registry"
    admin = local_admin("ops-admin")
    with Registry.open(root) as registry:
        registry.create_tenant(admin, "acme")
        tokens = {role: registry.create_token(admin, "acme", role, name) for role, name in
                  (("trainer", "tom"), ("approver", "ann"), ("reader", "rita"), ("admin", "ada"), ("reviewer", "rev"))}
        trainer = registry.authenticate(tokens["trainer"])
        registry.set_gates(admin, "acme/bot", GatePolicy(min_metrics={"relative_score": 95}, required_approvals=1, aliases=["production"]))
        record = registry.register(trainer, run, MODEL)
        registry.attach_report(trainer, record.ref, write_report_folder(base / "cmp"))
        candidate = registry.register(trainer, make_run(save_lora_adapter(tiny_model, base / "adapter2", seed=4), tiny_model,
                                                        write_dataset(base / "data2"), base / "run2"), MODEL)
        prompts = base / "prompts.jsonl"
        prompts.write_text("".join(json.dumps({"prompt": f"Rewrite in house style: item {i}"}) + "\n" for i in range(REVIEW_ITEMS)))
        registry.create_review(trainer, candidate.ref, record.ref, prompts, max_new_tokens=4, batch_size=REVIEW_ITEMS)
    return ConsoleWorld(root, tokens)


@pytest.fixture
def console_world(console_template: ConsoleWorld, tmp_path: Path) -> ConsoleWorld:
    root = tmp_path / "registry"
    shutil.copytree(console_template.root, root)
    return ConsoleWorld(root, console_template.tokens)
