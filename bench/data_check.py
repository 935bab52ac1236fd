"""Rows per second of the data checks (PII + near-duplicates + contamination) and the memory they keep.

    python bench/data_check.py [--rows 100000 --rows 300000] [--dedup-memory-mb 256] [--quick] [--out FILE]

Each data set in a fresh process: `../shared/data/alpaca_en_demo.json` and N generated prompt/completion rows (1%
with planted PII, 2% exact and 2% near copies). The first 90% of each are the training rows, the last 10% the
held-out rows checked for contamination. Generated rows are streamed from their JSONL file, so the worker
holds no more than one row. Timed: `QualityPass.screen` + `QualityPass.keeps` per row (reading and tokenizing are
not part of the check). Kept: rows per second of process CPU time (less disturbed by other load on a shared machine)
and of wall time, the ratio to the 5,000 rows/s target, and the peak RSS growth during the pass, checked against
the stated bound: the duplicate index's `dedup_memory_mb` plus a fixed allowance for everything else.
"""

import argparse
import itertools
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ALPACA_DEMO, RESULTS_DIR, BenchError, current_rss_bytes, emit_result, run_worker  # noqa: E402

from adaptlab import atomic  # noqa: E402
from adaptlab.data.options import DataOptions  # noqa: E402
from adaptlab.train.environment import peak_rss_bytes  # noqa: E402

TARGET_ROWS_PER_S = 5_000
OTHER_MEMORY_MB = 64  # beside the index: Presidio's and numpy's working memory, allocator slack
HELD_OUT_SHARE = 0.1
VOCABULARY = (
    "the a model data row answer question explain write list summarise translate customer invoice report table "
    "python function error value number result train test small large fast slow because when where which"
).split()
PLANTED = ["mail jo.doe{n}@example.com", "call +1 212-555-{n:04d}", "card 4111 1111 1111 1111", "ip 10.0.{m}.{m}"]


def generated_rows(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for number in range(count):
        draw = rng.random()
        if rows and draw < 0.02:
            rows.append(dict(rng.choice(rows)))
            continue
        if rows and draw < 0.04:
            source = rng.choice(rows)
            rows.append({"prompt": source["prompt"], "completion": source["completion"] + " indeed"})
            continue
        prompt = " ".join(rng.choices(VOCABULARY, k=rng.randint(8, 40)))
        if draw > 0.99:
            prompt += " " + rng.choice(PLANTED).format(n=number % 10000, m=number % 250)
        rows.append({"prompt": prompt, "completion": " ".join(rng.choices(VOCABULARY, k=rng.randint(4, 60)))})
    return rows


def records(path: Path) -> Iterator[dict]:
    """A JSONL file line by line (the generated rows), other files through adaptlab's reader (alpaca: 999 rows)."""
    from adaptlab.data.formats import rename_columns
    from adaptlab.data.readers import read_source_file

    if path.suffix == ".jsonl":
        with path.open(encoding="utf-8") as lines:
            yield from (json.loads(line) for line in lines)
        return
    yield from (rename_columns(row.record, {}) for row in read_source_file(path).rows if row.record is not None)


def start_rss_peak() -> None:
    """Reset VmHWM (Linux `clear_refs` 5), so the peak read after the pass is the pass's own."""
    Path("/proc/self/clear_refs").write_text("5")


def worker(spec: dict) -> dict:
    from adaptlab.data.bad_rows import BadRow
    from adaptlab.data.formats import detect_format
    from adaptlab.data.pii import PiiScanner
    from adaptlab.data.quality import QualityPass

    path = Path(spec["path"])
    fmt = detect_format(list(itertools.islice(records(path), 1000)))
    rows = sum(1 for _ in records(path))
    held_out_from = int(rows * (1 - HELD_OUT_SHARE))
    scanner = PiiScanner()
    scanner.scan("load the recognizers before the clock starts: a@example.com")
    options = DataOptions(dedup="near", pii="report", dedup_memory_mb=spec["dedup_memory_mb"])
    quality = QualityPass(options, check_contamination=True, scanner=scanner)
    rss_before = current_rss_bytes()
    start_rss_peak()
    wall = cpu = 0.0
    for number, record in enumerate(records(path)):
        role = "train" if number < held_out_from else "eval"
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        quality.keeps(quality.screen(record, fmt).text, role, BadRow(spec["path"], number + 1, ""))
        wall, cpu = wall + time.perf_counter() - wall_start, cpu + time.process_time() - cpu_start
    peak_growth = peak_rss_bytes() - rss_before
    summary = quality.summary(held_out_from, {})
    bound = (options.dedup_memory_mb + OTHER_MEMORY_MB) * 2**20
    return {
        "name": spec["name"],
        "rows": rows,
        "wall_s": wall,
        "cpu_s": cpu,
        "rows_per_s": rows / wall,
        "cpu_rows_per_s": rows / cpu,
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "rss_before_bytes": rss_before,
        "peak_rss_growth_bytes": peak_growth,
        "memory_bound_bytes": bound,
        "within_memory_bound": peak_growth <= bound,
        "index_reserved_bytes": quality.index_reserved_bytes,
        "unindexed_rows": summary.duplicates.unindexed_rows,
        "pii_findings": sum(summary.pii.findings_by_type.values()),
        "duplicates": summary.duplicates.exact + summary.duplicates.near,
        "contaminated": summary.contamination.contaminated,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="generated rows (repeatable; default 100000 and 300000)")
    parser.add_argument("--quick", action="store_true", help="5,000 generated rows, no alpaca")
    parser.add_argument(
        "--dedup-memory-mb", type=int, default=DataOptions.model_fields["dedup_memory_mb"].default,
        help="the duplicate index's memory bound (default: DataOptions' default); a low one shows the bound holding",
    )
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit_result(worker(json.loads(args.worker)))
        return
    console = Console()
    counts = [5_000] if args.quick else args.rows or [100_000, 300_000]
    results = []
    with tempfile.TemporaryDirectory() as folder:
        specs = [] if args.quick else [{"name": "alpaca_en_demo", "path": str(ALPACA_DEMO)}]
        if not args.quick and not ALPACA_DEMO.exists():
            raise BenchError(f"{ALPACA_DEMO} not found; use --quick")
        for count in counts:
            generated = Path(folder) / f"generated_{count}.jsonl"
            with generated.open("w", encoding="utf-8") as handle:
                handle.writelines(json.dumps(row) + "\n" for row in generated_rows(count))
            specs.append({"name": f"generated_{count}", "path": str(generated)})
        for spec in specs:
            spec["dedup_memory_mb"] = args.dedup_memory_mb
            results.append(run_worker(Path(__file__), spec, console))
    console.print(results_table(results))
    bound_mib = results[0]["memory_bound_bytes"] / 2**20
    console.print(
        f"memory bound checked: peak RSS growth during the pass <= {bound_mib:.0f} MiB "
        f"(dedup_memory_mb {args.dedup_memory_mb} + {OTHER_MEMORY_MB} MiB for everything else), whatever the rows; "
        f"load average (1 min) {os.getloadavg()[0]:.1f}"
    )
    out = args.out or RESULTS_DIR / ("data_check_quick.json" if args.quick else "data_check.json")
    atomic.write_text(out, json.dumps({"load_average_1m": os.getloadavg()[0], "results": results}, indent=2) + "\n")
    over = [result["name"] for result in results if not result["within_memory_bound"]]
    if over:
        raise BenchError(f"peak RSS growth above the {bound_mib:.0f} MiB bound: {', '.join(over)}")


def results_table(results: list[dict]) -> Table:
    table = Table(title="data checks: PII + near-duplicates + contamination")
    columns = ("data", "rows", "rows/s (CPU)", "÷ target", "rows/s (wall)", "peak RSS growth", "index reserved", "unindexed", "PII", "dups", "contaminated")
    for column in columns:
        table.add_column(column, justify="left" if column == "data" else "right")
    for result in results:
        table.add_row(
            result["name"], str(result["rows"]), f"{result['cpu_rows_per_s']:.0f}",
            f"{result['cpu_rows_per_s'] / result['target_rows_per_s']:.2f}", f"{result['rows_per_s']:.0f}",
            f"{result['peak_rss_growth_bytes'] / 2**20:.0f} MiB", f"{result['index_reserved_bytes'] / 2**20:.0f} MiB",
            str(result["unindexed_rows"]), str(result["pii_findings"]), str(result["duplicates"]), str(result["contaminated"]),
        )
    return table


if __name__ == "__main__":
    main()
