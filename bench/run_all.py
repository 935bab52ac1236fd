"""Run every bench and gather their headline figures into one table (markdown + JSON).

    python bench/run_all.py                      # every bench's default run, one after another (~40 min on 2 cores)
    python bench/run_all.py --quick              # every bench's --quick mode (builtin:tiny, a few minutes)
    python bench/run_all.py --only serve memory  # a subset
    python bench/run_all.py --collect-only       # no runs: the table from the result files already in bench/results

Each bench runs as its own command (its existing CLI, in a fresh process) and writes its own JSON in
bench/results/; this script then reads those files and writes bench/results/run_all[_quick].json and
.md: one row per figure with its target, whether it is met, and the load average and time of the run it
came from. The machine is stated at the top. `python bench/readme_performance.py` puts the markdown into
the README's Performance section. compare_wall runs only when its script is present.
"""

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from common import RESULTS_DIR, machine_description, ratio, write_results
from rich.console import Console

from adaptlab import atomic

BENCH_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Figure:
    bench: str
    figure: str
    measured: str
    target: str = ""
    met: str = ""  # yes / no / "" (no target)
    load_average_1m: float | None = None
    measured_at: str = ""


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    arguments: tuple[str, ...]
    quick_arguments: tuple[str, ...]
    result: str  # result file name (without .json) of the default run; "_quick" is added for --quick
    figures: Callable[[dict], list[Figure]]

    def command(self, quick: bool) -> list[str]:
        return [sys.executable, str(BENCH_DIR / self.script), *(self.quick_arguments if quick else self.arguments)]

    def result_path(self, quick: bool) -> Path:
        return RESULTS_DIR / f"{self.result}{'_quick' if quick else ''}.json"


def verdict(value: float, target: float, at_least: bool = True) -> str:
    return "yes" if (value >= target if at_least else value <= target) else "no"


def train_vs_hf_figures(payload: dict) -> list[Figure]:
    by_name = {result["name"]: result for result in payload["results"]}
    figures = []
    for name, result in by_name.items():
        method = "full" if "full" in name else "lora"
        best = by_name.get(f"hf_{method}_best")
        measured = f"{result['tokens_per_s']:,.0f} tokens/s, eval loss {result['eval_loss']:.4f}, MFU {100 * result['mfu']:.0f} %"
        target = met = ""
        if name.startswith("adaptlab") and best:
            speedup = result["tokens_per_s"] / best["tokens_per_s"]
            loss_gap = result["eval_loss"] / best["eval_loss"] - 1
            measured += f"; {speedup:.2f}× hf_{method}_best, loss {100 * loss_gap:+.1f} %"
            target = f"≥ 1.3× hf_{method}_best at eval loss within ±0.5 %; MFU ≥ 50 %"
            met = "yes" if speedup >= 1.3 and loss_gap <= 0.005 and result["mfu"] >= 0.5 else "no"
        figures.append(Figure("train_vs_hf", name, measured, target, met))
    return figures


def memory_figures(payload: dict) -> list[Figure]:
    by_name = {result["name"]: result for result in payload["results"]}
    full = by_name.get("full")
    figures = []
    for name, target in (("lora", 0.6), ("qlora", 0.45)):
        if name in by_name and full:
            share = by_name[name]["peak_rss_bytes"] / full["peak_rss_bytes"]
            measured = f"{by_name[name]['peak_rss_bytes'] / 2**30:.2f} GiB peak RSS, {share:.2f}× full's {full['peak_rss_bytes'] / 2**30:.2f} GiB"
            figures.append(Figure("memory", f"{name} peak memory", measured, f"≤ {target}× full", verdict(share, target, at_least=False)))
    return figures


def serve_figures(payload: dict) -> list[Figure]:
    scenarios, targets = payload["scenarios"], payload["targets"]
    base = scenarios["base"]["tokens_per_s"]
    figures = [Figure("serve", "base", f"{base:.1f} tokens/s")]
    for name, scenario in scenarios.items():
        if name == "base":
            continue
        share = scenario["tokens_per_s"] / base
        target, met = "", ""
        if name == "one_adapter":
            target, met = "≥ 0.97× base", verdict(share, 0.97)
        elif name.startswith("mixed"):
            target, met = "≥ 0.9× base", verdict(share, 0.9)
        cpu_share = scenario["tokens_per_cpu_s"] / scenarios["base"]["tokens_per_cpu_s"]
        measured = f"{scenario['tokens_per_s']:.1f} tokens/s, {share:.2f}× base ({cpu_share:.2f}× by CPU time)"
        figures.append(Figure("serve", name, measured, target, met))
    if "ttft_p50_s" in payload:
        ttft = ", ".join(f"{name} {seconds * 1000:.0f} ms" for name, seconds in payload["ttft_p50_s"].items())
        figures.append(Figure("serve", f"time to first token p50, {payload['settings']['concurrency']} concurrent", ttft, "reported"))
    cold_ms = targets["cold_load_median_ms"]
    figures.append(Figure("serve", "rank-16 cold load (median)", f"{cold_ms:.0f} ms", "≤ 50 ms", verdict(cold_ms, 50, at_least=False)))
    return figures + peer_figures(payload.get("peer"), scenarios, payload["settings"]["concurrency"])


def peer_figures(peer: dict | None, scenarios: dict, concurrency: int) -> list[Figure]:
    """The llama.cpp serving peer: each of its scenarios ("base Q4_1") with adaptlab's ratio to it ("base"; no target),
    or why it was skipped."""
    if peer is None:
        return []
    if peer["status"] != "measured":
        return [Figure("serve", "llama.cpp peer", f"skipped: {peer['reason']}")]
    return [
        Figure(
            "serve",
            f"llama.cpp peer, {label} GGUF, {concurrency} concurrent",
            f"{measured['tokens_per_s']:.1f} tokens/s; adaptlab {ratio(ours['tokens_per_s'], measured['tokens_per_s'])} of it "
            f"({ratio(ours['tokens_per_cpu_s'], measured['tokens_per_cpu_s'])} by CPU time)",
            "reported",
        )
        for label, measured in peer["scenarios"].items()
        for ours in [scenarios[label.split()[0]]]
    ]


def merge_latency_figures(payload: dict) -> list[Figure]:
    measured = f"{payload['unmerged_over_merged_wall']:.2f}× merged's wall time ({payload['new_tokens']} new tokens, median of {payload['repeats']})"
    return [Figure("merge_latency", "LoRA applied at inference vs merged", measured, load_average_1m=payload.get("load_average_1m_at_end"))]


def compare_wall_figures(payload: dict) -> list[Figure]:
    minutes = payload["wall_time_s"] / 60
    return [Figure("compare_wall", f"compare full,lora,qlora ({payload['rows']} rows)", f"{minutes:.1f} min", "≤ 8 min", verdict(minutes, 8, at_least=False))]


def lora_kernels_figures(payload: dict) -> list[Figure]:
    medians, base = payload["medians"], payload["medians"]["base"]
    return [
        Figure(
            "lora_kernels",
            label,
            f"prefill {median['prefill_s'] / base['prefill_s']:.2f}× base's time; decode {base['decode_step_s'] / median['decode_step_s']:.2f}× base tokens/s",
        )
        for label, median in medians.items()
        if label != "base"
    ]


def train_levers_figures(payload: dict) -> list[Figure]:
    field, summary = payload["field"], payload["summary"]
    return [
        Figure("train_levers", f"{payload['profile']}: {field}={row[field]}", f"{row['tokens_per_s_median']:,.0f} tokens/s, {row['ratio_to_first']:.2f}× {field}={summary[0][field]}")
        for row in summary
    ]


# full FT on short rows: the optimizer kernel (the lever kept) and fp32 instead of bf16 (measured, not kept)
SHORT_ROW_LEVERS = ("--field", "optimizer_kernel,precision", "--values", "for_loop,bf16", "fused,bf16", "fused,fp32", "--profile", "short_full")
BENCHES = (
    Bench("train_vs_hf", "train_vs_hf.py", (), ("--quick",), "train_vs_hf", train_vs_hf_figures),
    Bench("train_levers", "train_levers.py", (*SHORT_ROW_LEVERS, "--steps", "6"), ("--quick", *SHORT_ROW_LEVERS),
          "train_levers_optimizer_kernel+precision_short_full", train_levers_figures),
    Bench("memory", "memory.py", (), ("--quick",), "memory", memory_figures),
    Bench("serve", "serve.py", (), ("--quick",), "serve", serve_figures),
    Bench("lora_kernels", "lora_kernels.py", (), ("--quick",), "lora_kernels", lora_kernels_figures),
    Bench("merge_latency", "merge_latency.py", (), ("--quick",), "merge_latency", merge_latency_figures),
    Bench("compare_wall", "compare_wall.py", (), ("--quick",), "compare_wall", compare_wall_figures),
)  # fmt: skip


def bench_figures(bench: Bench, quick: bool) -> list[Figure]:
    """The bench's figures from its result file, each stamped with the file's load average and time."""
    path = bench.result_path(quick)
    if not path.is_file():
        return [Figure(bench.name, "(no result)", f"{path.name} not found: run `python bench/{bench.script}`")]
    payload = json.loads(path.read_text())
    machine = payload.get("machine", {})
    load = machine.get("load_average_1m")
    when = machine.get("measured_at") or committed_date(path) or datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M")
    return [
        Figure(**(asdict(figure) | {"load_average_1m": figure.load_average_1m if figure.load_average_1m is not None else load, "measured_at": when}))
        for figure in bench.figures(payload)
    ]


def committed_date(path: Path) -> str | None:
    """"≤ DATE" from the last commit of a result file written before results carried their time (None if untracked)."""
    completed = subprocess.run(["git", "log", "-1", "--format=%cs", "--", path.name], cwd=path.parent, capture_output=True, text=True, check=False)
    return f"≤ {completed.stdout.strip()}" if completed.returncode == 0 and completed.stdout.strip() else None


def markdown(machine: dict, figures: list[Figure], quick: bool) -> str:
    lines = [
        (
            f"Machine: {machine['cpu']}, {machine['cpu_cores']} cores ({machine['torch_threads']} torch threads), "
            f"torch {machine['torch']}, {machine['platform']}{' — --quick runs: tiny model, ratios meaningless' if quick else ''}."
        ),
        "",
        "| bench | figure | measured | target | met? | load 1m | measured (UTC) |",
        "| --- | --- | --- | --- | --- | ---: | --- |",
    ]
    for f in figures:
        load = "-" if f.load_average_1m is None else f"{f.load_average_1m:.1f}"
        lines.append(f"| {f.bench} | {f.figure} | {f.measured} | {f.target} | {f.met} | {load} | {f.measured_at} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="each bench's --quick mode")
    parser.add_argument("--only", nargs="+", choices=[bench.name for bench in BENCHES], help="run only these benches (the table still lists all)")
    parser.add_argument("--collect-only", action="store_true", help="run nothing; build the table from the existing result files")
    args = parser.parse_args()
    console = Console()
    failed = []
    for bench in BENCHES:
        if args.collect_only or (args.only and bench.name not in args.only) or not (BENCH_DIR / bench.script).is_file():
            continue
        command = bench.command(args.quick)
        console.rule(f"{bench.name}: {' '.join(command[1:])}")
        started = time.perf_counter()
        if subprocess.run(command, check=False).returncode != 0:
            failed.append(bench.name)
        console.print(f"{bench.name}: {time.perf_counter() - started:.0f} s")
    machine = machine_description()
    figures = [figure for bench in BENCHES if (BENCH_DIR / bench.script).is_file() for figure in bench_figures(bench, args.quick)]
    name = f"run_all{'_quick' if args.quick else ''}"
    table = markdown(machine, figures, args.quick)
    write_results(name, {"bench": "run_all", "quick": args.quick, "machine": machine, "figures": [asdict(f) for f in figures], "failed": failed})
    atomic.write_text(RESULTS_DIR / f"{name}.md", table)
    console.print(table)
    console.print(f"wrote {RESULTS_DIR / name}.json and .md")
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/red]")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
