"""Wall time of a whole `adaptlab compare --methods full,lora,qlora` with its defaults, and of each phase.

    python bench/compare_wall.py            # SmolLM2-135M, 400 rows of ../shared/data/sms_spam.tsv (target ≤ 8 min on 2 cores)
    python bench/compare_wall.py --quick    # builtin:tiny, 40 rows (< 1 min): checks the bench itself

The SMS rows are framed as instruction → label (prompt: the message and the question; completion: ham or
spam). The comparison runs as the user would run it, in its own process, with nothing but --methods,
--model, --data and --out set. Phases are cut where its output moves on: setup (data, base), one phase
per method for its training process (loading, training, saving) and one for its evaluation (the last one
also writes the reports); each output line
is timestamped on arrival. Each run's training loop time, CPU time and precision come from its run.json.
Prints a table and writes bench/results/compare_wall.json (or --out).
"""

import argparse
import csv
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from common import BenchError, bench_workdir, machine_description, write_results

from adaptlab.methods import get_method
from rich.console import Console
from rich.table import Table

SMS_SPAM = Path(__file__).resolve().parents[2] / "shared" / "data" / "sms_spam.tsv"
METHODS = ("full", "lora", "qlora")
PROMPT = "Is this SMS message spam or ham?\n\n{message}\n\nAnswer:"
# the lines where the comparison moves to its next phase: each method trains ("──── lora  (lr 0.0002) ────"), then is
# evaluated ("──── evaluating LoRA ────"); the last evaluation phase also holds the reports
PHASE_STARTS = {
    phase: pattern for method in METHODS for phase, pattern in (
        (method, re.compile(rf"─ {method}  \(lr ")),
        (f"{method}: evaluation", re.compile(rf"─ evaluating {re.escape(get_method(method).label)} ─")),
    )
}


def sms_rows(path: Path, count: int) -> list[dict]:
    if not path.is_file():
        raise BenchError(f"{path}: not found; this bench needs ../shared/data/sms_spam.tsv (or run it with --quick)")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle, delimiter="\t") if row.get("SMS") and row.get("Label")]
    return [{"prompt": PROMPT.format(message=row["SMS"].strip()), "completion": " " + row["Label"].strip()} for row in rows[:count]]


def quick_rows(count: int) -> list[dict]:
    return [{"prompt": PROMPT.format(message=f"message number {i}"), "completion": " spam" if i % 3 == 0 else " ham"} for i in range(count)]


def run_comparison(command: list[str], log: Path) -> tuple[float, list[tuple[float, str]]]:
    """Run the comparison, keep its output in `log`; return its wall time and each output line with its arrival time."""
    started = time.perf_counter()
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as process, log.open("w", buffering=1) as out:
        for line in process.stdout:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
            out.write(line)
        returncode = process.wait()
    wall_s = time.perf_counter() - started
    if returncode != 0:
        raise BenchError(f"the comparison failed (exit {returncode}); its output is in {log}")
    return wall_s, lines


def phase_times(wall_s: float, lines: list[tuple[float, str]]) -> dict[str, float]:
    """Seconds per phase, cut at the first line that starts each phase (setup runs until the first)."""
    starts = [(0.0, "setup")]
    for name, pattern in PHASE_STARTS.items():
        at = next((t for t, line in lines if pattern.search(line)), None)
        if at is not None:
            starts.append((at, name))
    starts.sort()
    ends = [t for t, _ in starts[1:]] + [wall_s]
    return {name: end - start for (start, name), end in zip(starts, ends)}


def run_facts(out: Path) -> dict[str, dict]:
    facts = {}
    for method in METHODS:
        record = json.loads((out / "runs" / method / "run.json").read_text())
        metrics = record["metrics"]
        facts[method] = {
            "train_loop_s": metrics["wall_time_s"],
            "process_cpu_time_s": metrics.get("process_cpu_time_s"),
            "tokens_per_s": metrics["tokens_per_s"],
            "steps": metrics["steps"],
            "precision": record.get("precision_chosen"),
            "packing": record["config"]["packing"],
        }
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="builtin:tiny on 40 generated rows")
    parser.add_argument("--rows", type=int, default=400, help="SMS rows to use (default 400)")
    parser.add_argument("--out", type=Path, help="result JSON (default bench/results/compare_wall[_quick].json)")
    args = parser.parse_args()
    console = Console()

    workdir = bench_workdir()
    rows = quick_rows(40) if args.quick else sms_rows(SMS_SPAM, args.rows)
    data = workdir / "sms.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    model = "builtin:tiny" if args.quick else "builtin:smollm2-135m"
    command = [sys.executable, "-m", "adaptlab", "compare", "--methods", ",".join(METHODS), "--model", model,
               "--data", str(data), "--out", str(workdir / "comparison")]
    console.print(f"running: {' '.join(command)}\n(output in {workdir / 'compare.log'})")
    machine = machine_description()
    wall_s, lines = run_comparison(command, workdir / "compare.log")
    phases = phase_times(wall_s, lines)
    runs = run_facts(workdir / "comparison")

    table = Table(title=f"adaptlab compare, defaults, {model}, {len(rows)} rows: {wall_s / 60:.1f} min", title_justify="left")
    for column in ("phase", "wall time", "training loop", "CPU time", "tokens/s", "precision, packing"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for name, seconds in phases.items():
        run = runs.get(name)
        table.add_row(
            name, f"{seconds:.1f} s",
            *(("-",) * 4 if run is None else (
                f"{run['train_loop_s']:.1f} s", f"{run['process_cpu_time_s'] or 0:.1f} s", f"{run['tokens_per_s']:,.0f}",
                f"{run['precision']}, {'packed' if run['packing'] else 'padded'}",
            )),
        )
    table.add_row("whole comparison", f"{wall_s:.1f} s", "", "", "", "", style="bold")
    console.print(table)
    payload = {"model": model, "rows": len(rows), "command": command, "wall_time_s": wall_s, "phases_s": phases,
               "runs": runs, "machine": machine}
    path = write_results("compare_wall_quick" if args.quick else "compare_wall", payload, args.out)
    console.print(f"results: {path}")


if __name__ == "__main__":
    main()
