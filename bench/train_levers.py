"""One training lever, A/B: the same short run with each value of one TrainConfig field, interleaved.

    python bench/train_levers.py --field optimizer_kernel --values for_loop fused --profile short_full
    python bench/train_levers.py --field optimizer_kernel --values foreach fused --profile packed_lora --rounds 3
    python bench/train_levers.py --field optimizer_kernel --values fused --profile packed_lora --steps 3 --rounds 1 --op-profile 2
    python bench/train_levers.py --field optimizer_kernel,precision --values for_loop,bf16 fused,bf16 fused,fp32
    python bench/train_levers.py --quick ...   # builtin:tiny on generated rows: checks that the bench runs

`--field` may name several fields, comma-separated; each value then sets them all (`fused,fp32`), so
combined levers are compared with one baseline in one run. Every (round, value) pair trains `--steps` optimizer steps with adaptlab's loop in a fresh process; rounds
run the values in turn (A B A B …) so load from other processes hits every value alike. Reported per
value: the median tokens/s over the rounds (the loop's own clock: loading excluded, the first step and any
compilation included), its ratio to the first value, the final training loss (numerics: an exact lever
gives the same loss), and the 1-minute load average while it ran. `--op-profile N` adds, after the rounds,
one run per value whose steps 2 … N+1 run under torch.profiler, and prints (and keeps in the JSON) the top
operators by self CPU time; those runs are not part of the medians. Profiles:

- short_full: full fine-tuning on short rows (micro-batch 4, rows ≤ 64 tokens, ~60 on alpaca, no packing),
  where the optimizer step dominates;
- packed_lora / packed_full: LoRA r=16 all-linear or full fine-tuning on 256-token packed rows, as train_vs_hf.

Prints a table and writes bench/results/train_levers_<field>_<profile>.json (or --out).
"""

import argparse
import json
import os
import statistics
from pathlib import Path

from common import (
    adaptlab_worker,
    bench_workdir,
    emit_result,
    machine_description,
    quick_alpaca_rows,
    ratio,
    read_alpaca_demo,
    run_worker,
    shared_train_config,
    split_data_files,
    write_results,
)
from op_profile import print_profile
from rich.console import Console
from rich.table import Table

SCRIPT = Path(__file__).resolve()
PROFILES = {
    # rows that do not fit 64 tokens with a response token left are skipped (--max-bad-rows), not truncated
    "short_full": {"method": "full", "max_seq_len": 64, "packing": False, "learning_rate": 1e-5, "max_bad_rows": 200},
    "packed_lora": {"method": "lora", "max_seq_len": 256, "packing": True, "learning_rate": 2e-4},
    "packed_full": {"method": "full", "max_seq_len": 256, "packing": True, "learning_rate": 1e-5},
}
SHARED = {"train_rows": 200, "eval_rows": 4, "micro_batch_size": 4, "precision": "bf16"}


def worker_spec(name: str, profile: dict, settings: dict, steps: int, files: tuple[Path, Path], workdir: Path) -> dict:
    train_config = shared_train_config(name, profile["method"], profile, *files, workdir) | {
        "packing": profile["packing"],
        "precision": profile["precision"],
        "learning_rate": profile["learning_rate"],
        "max_steps": steps,
        "max_bad_rows": profile.get("max_bad_rows", 0),
    } | settings
    return {"name": name, "engine": "adaptlab", "evaluate": False, "train_config": train_config}


def summarise(field: str, values: list, runs: dict[str, list[dict]]) -> list[dict]:
    first = statistics.median(r["tokens_per_s"] for r in runs[values[0]])
    summary = []
    for value in values:
        results = runs[value]
        median = statistics.median(r["tokens_per_s"] for r in results)
        summary.append(
            {
                field: value,
                "tokens_per_s_runs": [r["tokens_per_s"] for r in results],
                "tokens_per_s_median": median,
                "ratio_to_first": median / first,
                "final_train_loss": [r["final_train_loss"] for r in results],
                "load_average_1m": [r["load_average_1m"] for r in results],
            }
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--field", required=False, help="the TrainConfig field to vary (e.g. optimizer_kernel)")
    parser.add_argument("--values", nargs="+", help="its values, as JSON where not plain strings (true, false, 2); the first is the baseline")
    parser.add_argument("--profile", choices=list(PROFILES), default="short_full")
    parser.add_argument("--steps", type=int, default=12, help="optimizer steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (A B A B …); the median is reported")
    parser.add_argument("--quick", action="store_true", help="builtin:tiny on generated rows, 1 round of 4 steps")
    parser.add_argument("--op-profile", type=int, default=0, metavar="N", help="then one run per value with steps 2 … N+1 under torch.profiler")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit_result(adaptlab_worker(json.loads(args.worker)))
        return
    field = args.field or "optimizer_kernel"
    try:
        settings = {value: lever_settings(field, value) for value in args.values or ["for_loop", "fused"]}
    except ValueError as exc:
        parser.error(str(exc))
    values = list(settings)
    profile = PROFILES[args.profile] | SHARED | {"model": "builtin:tiny" if args.quick else "builtin:smollm2-135m"}
    steps, rounds = (4, 1) if args.quick else (args.steps, args.rounds)
    console = Console(width=max(Console().width, 110))
    rows = quick_alpaca_rows(profile["train_rows"] + profile["eval_rows"]) if args.quick else read_alpaca_demo()
    workdir = bench_workdir()
    files = split_data_files(rows, profile["train_rows"], profile["eval_rows"], workdir)
    runs: dict[str, list[dict]] = {value: [] for value in values}
    result_name = f"train_levers_{field.replace(',', '+')}_{args.profile}{'_quick' if args.quick else ''}"
    for round_index in range(rounds):
        for value in values:
            name = f"{field}={value}-r{round_index}"
            with console.status(f"round {round_index + 1}/{rounds}: {name}, {steps} steps in a fresh process"):
                result = run_worker(SCRIPT, worker_spec(name, profile, settings[value], steps, files, workdir), console)
            result["load_average_1m"] = os.getloadavg()[0]
            runs[value].append(result)
            console.print(f"{name}: {result['tokens_per_s']:,.1f} tokens/s, final loss {result['final_train_loss']:.4f}, load {result['load_average_1m']:.1f}")
        payload = {
            "bench": "train_levers",
            "field": field,
            "profile": args.profile,
            "settings": profile | {"steps": steps, "rounds": rounds, "rounds_done": round_index + 1},
            "machine": machine_description(),
            "summary": summarise(field, values, runs),
            "runs": runs,
        }
        path = write_results(result_name, payload, args.out)  # after every round: an interrupted bench keeps its rounds
    if args.op_profile:
        payload["op_profiles"] = {}
        for value in values:
            name = f"{field}={value}-profiled"
            spec = worker_spec(name, profile, settings[value], 1 + args.op_profile, files, workdir) | {"op_profile_steps": args.op_profile}
            with console.status(f"{name}: {1 + args.op_profile} steps, the last {args.op_profile} under torch.profiler"):
                payload["op_profiles"][value] = run_worker(SCRIPT, spec, console)["op_profile"]
            print_profile(console, payload["op_profiles"][value])
        path = write_results(result_name, payload, args.out)
    summary = payload["summary"]
    table = Table(title=f"{field} on {args.profile} ({profile['model']}, {steps} steps, median of {rounds})")
    for column in (field, "tokens/s (runs)", "median", "× first", "final loss", "load 1m"):
        table.add_column(column, justify="left" if column == field else "right")
    for row in summary:
        table.add_row(
            str(row[field]),
            " ".join(f"{t:,.0f}" for t in row["tokens_per_s_runs"]),
            f"{row['tokens_per_s_median']:,.1f}",
            ratio(row["tokens_per_s_median"], summary[0]["tokens_per_s_median"]),
            " ".join(f"{loss:.4f}" for loss in row["final_train_loss"]),
            " ".join(f"{load:.1f}" for load in row["load_average_1m"]),
        )
    console.print(table)
    console.print(f"results written to {path}")


def lever_settings(field: str, value: str) -> dict:
    """The TrainConfig fields one value of the lever sets: `optimizer_kernel` + `fused`, or `optimizer_kernel,precision`
    + `fused,fp32`; each part as JSON where it is not a plain string (true, 2)."""
    fields, parts = field.split(","), value.split(",")
    if len(parts) != len(fields):
        raise ValueError(f"--values {value}: {len(parts)} parts for the {len(fields)} fields of --field {field}")
    return {name: parse_value(part) for name, part in zip(fields, parts)}


def parse_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


if __name__ == "__main__":
    main()
