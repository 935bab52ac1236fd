"""`adaptlab demo`: the whole story on the embedded default, offline, in a few minutes on 2 CPU cores.

Fine-tunes SmolLM2-135M-Instruct with full fine-tuning, LoRA and QLoRA on adaptlab's built-in
glossary task (rewrite a sentence in Acme's house style; exact match is measurable), measures
forgetting on the built-in reference text, writes the reports and prints a recommendation; then it
registers the adapters, with the report attached, in a registry and prints the command that opens
the web console (`adaptlab ui`) on it.
Every number in the output is measured in this run.
"""

from pathlib import Path

from rich.console import Console

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.demo_registry import DEMO_TENANT, publish_demo
from adaptlab.compare.recommend import Constraints, recommend
from adaptlab.compare.recommendation_view import print_recommendation
from adaptlab.compare.report import write_reports
from adaptlab.compare.runner import compare
from adaptlab.data.glossary_task import glossary_task, write_jsonl

DEMO_TRAIN_ROWS = 160
DEMO_EVAL_ROWS = 32
DEMO_TENANTS = 20
# Sized for about a minute of training per method on 2 CPU cores. The learning rates are higher than
# the method defaults because the demo's budget is a few dozen steps; LoRA keeps its ~10x ratio to full.
DEMO_SETTINGS = dict(
    model="builtin:smollm2-135m",
    methods=["full", "lora", "qlora"],
    learning_rates={"full": 1e-4, "lora": 1e-3, "qlora": 1e-3},
    epochs=1,
    micro_batch_size=8,
    max_seq_len=128,
    packing=False,
    rank=16,
    alpha=32,
    lr_schedule="constant",
    precision="bf16",
    eval_every=5,
    metric="exact_match",
    metric_examples=DEMO_EVAL_ROWS,
    max_new_tokens=32,
    seed=0,
)


def demo_config(out: Path, **overrides) -> CompareConfig:
    """The demo's comparison; `overrides` replace DEMO_SETTINGS keys (tests run it on builtin:tiny with a tiny budget)."""
    train_rows, eval_rows = glossary_task(DEMO_TRAIN_ROWS, DEMO_EVAL_ROWS, seed=0)
    train_file, eval_file = out / "data" / "train.jsonl", out / "data" / "eval.jsonl"
    write_jsonl(train_rows, train_file)
    write_jsonl(eval_rows, eval_file)
    return CompareConfig(**(DEMO_SETTINGS | overrides), data=[train_file], eval_data=[eval_file], out=out)


def run_demo(out: Path, console: Console | None = None, **overrides) -> None:
    console = console or Console()
    console.rule("adaptlab demo: LoRA or full fine-tuning for SmolLM2-135M on Acme's house style?")
    comparison = compare(demo_config(out, **overrides), console)
    constraints = Constraints(tenants=DEMO_TENANTS)
    write_reports(comparison, out, constraints, with_json=False)  # the reports open with the decision printed here
    print_recommendation(recommend(comparison, constraints), console)
    published = publish_demo(out, comparison)
    console.print(f"\nOpen [bold]{out / 'report.html'}[/] for the plots; report.md and report.json sit beside it.")
    console.print(
        f"The adapters are registered as {', '.join(published.refs)} with the report attached. To review and promote them "
        f"in the web console, sign in with the token {published.token} (an admin of tenant {DEMO_TENANT}, shown once) after running:"
    )
    console.print(f"  {published.console_command}", highlight=False, soft_wrap=True)
