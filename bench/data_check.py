"""Rows per second of the data checks (PII + near-duplicates + contamination) and the memory they keep per row.

    python bench/data_check.py [--rows 100000] [--quick] [--out FILE]

Two data sets, each in a fresh process: `../shared/data/alpaca_en_demo.json` and N generated prompt/completion
rows (1% with planted PII, 2% exact and 2% near copies). The first 90% of each are the training rows, the last
10% the held-out rows checked for contamination. Timed: `QualityPass.screen` + `QualityPass.keeps` on rows
already read (reading and tokenizing are not part of the check). Kept: wall and process CPU rows/s (CPU time is
less disturbed by other load on a shared machine), and the RSS growth of the pass divided by the training rows
(the duplicate index is what grows with the rows; everything else is fixed).
"""

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ALPACA_DEMO, RESULTS_DIR, BenchError, current_rss_bytes, emit_result, run_worker  # noqa: E402

from adaptlab import atomic  # noqa: E402

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


def worker(spec: dict) -> dict:
    from adaptlab.data.formats import detect_format, rename_columns
    from adaptlab.data.options import DataOptions
    from adaptlab.data.pii import PiiScanner
    from adaptlab.data.quality import QualityPass
    from adaptlab.data.readers import read_source_file

    source = read_source_file(Path(spec["path"]))
    records = [rename_columns(row.record, {}) for row in source.rows if row.record is not None]
    fmt = detect_format(records)
    held_out_from = int(len(records) * (1 - HELD_OUT_SHARE))
    scanner = PiiScanner()
    scanner.scan("load the recognizers before the clock starts: a@example.com")
    quality = QualityPass(DataOptions(dedup="near", pii="report"), check_contamination=True, scanner=scanner)
    rss_before = current_rss_bytes()
    wall, cpu = time.perf_counter(), time.process_time()
    for number, record in enumerate(records):
        role = "train" if number < held_out_from else "eval"
        quality.keeps(quality.screen(record, fmt).text, role, f"{spec['path']}:{number + 1}")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    summary = quality.summary(held_out_from, {})
    return {
        "name": spec["name"],
        "rows": len(records),
        "wall_s": wall,
        "rows_per_s": len(records) / wall,
        "cpu_rows_per_s": len(records) / cpu,
        "index_bytes_per_train_row": (current_rss_bytes() - rss_before) / held_out_from,
        "pii_findings": sum(summary.pii.findings_by_type.values()),
        "duplicates": summary.duplicates.exact + summary.duplicates.near,
        "contaminated": summary.contamination.contaminated,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="generated rows")
    parser.add_argument("--quick", action="store_true", help="5,000 generated rows, no alpaca")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        emit_result(worker(json.loads(args.worker)))
        return
    console = Console()
    rows = 5_000 if args.quick else args.rows
    results = []
    with tempfile.TemporaryDirectory() as folder:
        generated = Path(folder) / "generated.jsonl"
        generated.write_text("".join(json.dumps(row) + "\n" for row in generated_rows(rows)), encoding="utf-8")
        specs = [{"name": f"generated_{rows}", "path": str(generated)}]
        if not args.quick:
            if not ALPACA_DEMO.exists():
                raise BenchError(f"{ALPACA_DEMO} not found; use --quick")
            specs.insert(0, {"name": "alpaca_en_demo", "path": str(ALPACA_DEMO)})
        for spec in specs:
            results.append(run_worker(Path(__file__), spec, console))
    table = Table(title="data checks: PII + near-duplicates + contamination")
    for column in ("data", "rows", "rows/s (wall)", "rows/s (CPU)", "index bytes / train row", "PII", "dups", "contaminated"):
        table.add_column(column)
    for result in results:
        table.add_row(
            result["name"], str(result["rows"]), f"{result['rows_per_s']:.0f}", f"{result['cpu_rows_per_s']:.0f}",
            f"{result['index_bytes_per_train_row']:.0f}", str(result["pii_findings"]), str(result["duplicates"]),
            str(result["contaminated"]),
        )
    console.print(table)
    out = args.out or RESULTS_DIR / ("data_check_quick.json" if args.quick else "data_check.json")
    atomic.write_text(out, json.dumps({"results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
