"""Peak memory of full fine-tuning vs LoRA vs QLoRA at equal batch and sequence length.

    python bench/memory.py            # SmolLM2-135M, micro-batch 4 × 256 tokens (packed rows), a few steps
    python bench/memory.py --quick    # builtin:tiny on generated rows (< 1 min)

Each method trains a few steps with adaptlab's loop in its own fresh process (peak RSS is a
per-process high-water mark). Packing fills every row to max_seq_len, so all methods see the same
batch × sequence shape. Reported: the process's peak RSS (loading included) and the training
loop's own peak (RSS high-water mark reset after loading), each with its ratio to full fine-tuning.
`--op-profile N` then trains each method once more with steps 2 … N+1 under torch.profiler, ranking
operators by the CPU memory they allocate and keep (bench/op_profile.py): where the peak comes from.
Prints a table and writes bench/results/memory.json (or --out).
"""

import argparse
import json
from pathlib import Path

from common import (
    adaptlab_worker,
    bench_workdir,
    emit_result,
    gib,
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
METHODS = ("full", "lora", "qlora")
LEARNING_RATES = {"full": 1e-5, "lora": 2e-4, "qlora": 2e-4}
PROFILES = {
    "default": {"model": "builtin:smollm2-135m", "train_rows": 96, "eval_rows": 8, "max_seq_len": 256, "micro_batch_size": 4, "steps": 3},
    "quick": {"model": "builtin:tiny", "train_rows": 48, "eval_rows": 4, "max_seq_len": 128, "micro_batch_size": 4, "steps": 2},
}


def worker_spec(
    method: str, profile: dict, train_file: Path, eval_file: Path, workdir: Path, gradient_checkpointing: bool
) -> dict:
    train_config = shared_train_config(method, method, profile, train_file, eval_file, workdir) | {
        "packing": True,
        "max_steps": profile["steps"],
        "learning_rate": LEARNING_RATES[method],
        "gradient_checkpointing": gradient_checkpointing,
    }
    return {"name": method, "engine": "adaptlab", "train_config": train_config}


def above_runtime_bytes(result: dict) -> int:
    """The training loop's peak less the RSS of the imported libraries alone: the memory the model,
    its optimizer state and activations take (what `torch.cuda.max_memory_allocated` counts on a GPU)."""
    return result["training_peak_rss_bytes"] - result["runtime_rss_bytes"]


def results_table(results: list[dict], title: str) -> Table:
    full = next((result for result in results if result["name"] == "full"), None)
    table = Table(title=title)
    table.add_column("method", no_wrap=True)
    columns = ("trainable params", "peak RSS GiB", "×full", "training peak GiB", "×full ", "above runtime GiB", "×full  ")
    for column in columns:
        table.add_column(column, justify="right", no_wrap=True)
    for result in results:
        table.add_row(
            result["name"],
            f"{result['trainable_params']:,}",
            gib(result["peak_rss_bytes"]),
            ratio(result["peak_rss_bytes"], full and full["peak_rss_bytes"]),
            gib(result["training_peak_rss_bytes"]),
            ratio(result["training_peak_rss_bytes"], full and full["training_peak_rss_bytes"]),
            gib(above_runtime_bytes(result)),
            ratio(above_runtime_bytes(result), full and above_runtime_bytes(full)),
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="builtin:tiny on generated rows, under a minute")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--gradient-checkpointing", action="store_true", help="recompute activations in every method")
    parser.add_argument("--micro-batch-size", type=int, default=None, help="rows per step for every method (default: the profile's)")
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default bench/results/memory[_quick][_mbN][_checkpointing].json)")
    parser.add_argument("--op-profile", type=int, default=0, metavar="N", help="then one run per method with steps 2 … N+1 under torch.profiler (memory)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit_result(adaptlab_worker(json.loads(args.worker)))
        return

    console = Console(width=max(Console().width, 130))
    profile_name = "quick" if args.quick else "default"
    profile = PROFILES[profile_name] | ({"micro_batch_size": args.micro_batch_size} if args.micro_batch_size else {})
    rows = quick_alpaca_rows(profile["train_rows"] + profile["eval_rows"]) if args.quick else read_alpaca_demo()
    workdir = bench_workdir()
    train_file, eval_file = split_data_files(rows, profile["train_rows"], profile["eval_rows"], workdir)
    results = []
    for method in args.methods:
        with console.status(f"training {method} for {profile['steps']} steps in a fresh process"):
            results.append(run_worker(SCRIPT, worker_spec(method, profile, train_file, eval_file, workdir, args.gradient_checkpointing), console))
    batch = f"micro-batch {profile['micro_batch_size']} × {profile['max_seq_len']} tokens (packed)"
    batch += ", gradient checkpointing" if args.gradient_checkpointing else ""
    console.print(results_table(results, f"peak memory — {profile['model']}, {batch}"))
    payload = {
        "bench": "memory",
        "profile": profile_name,
        "settings": profile | {"gradient_checkpointing": args.gradient_checkpointing},
        "machine": machine_description(),
        "results": results,
    }
    if args.op_profile:
        payload["op_profiles"] = {}
        for method in args.methods:
            spec = worker_spec(method, profile | {"steps": 1 + args.op_profile}, train_file, eval_file, workdir, args.gradient_checkpointing)
            spec["train_config"]["out"] = str(workdir / f"{method}-profiled")
            spec |= {"name": f"{method}-profiled", "evaluate": False, "op_profile_steps": args.op_profile, "op_profile_memory": True}
            with console.status(f"{method}: {1 + args.op_profile} steps, the last {args.op_profile} under torch.profiler"):
                payload["op_profiles"][method] = run_worker(SCRIPT, spec, console)["op_profile"]
            print_profile(console, payload["op_profiles"][method])
    name = f"memory{'_quick' if args.quick else ''}{f'_mb{args.micro_batch_size}' if args.micro_batch_size else ''}"
    name += "_checkpointing" if args.gradient_checkpointing else ""
    path = write_results(name, payload, args.out)
    console.print(f"results written to {path}")


if __name__ == "__main__":
    main()
