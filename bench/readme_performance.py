"""Put run_all's table into the README's Performance section, between its marker comments.

    python bench/readme_performance.py                 # bench/results/run_all.md into README.md
    python bench/readme_performance.py --check         # exit 1 if the README's table differs from the file

Only the text between `<!-- performance:start -->` and `<!-- performance:end -->` is replaced; the prose
around it (what each figure means, why gaps remain) is the README's own.
"""

import argparse
from pathlib import Path

from common import RESULTS_DIR, BenchError

from adaptlab import atomic

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- performance:start -->", "<!-- performance:end -->"


def with_table(readme_text: str, table: str) -> str:
    """The README text with `table` between the markers; BenchError when the markers are missing or out of order."""
    start, end = readme_text.find(START), readme_text.find(END)
    if start < 0 or end < start:
        raise BenchError(f"README: expected {START} … {END} around the Performance table")
    return readme_text[: start + len(START)] + "\n" + table.rstrip("\n") + "\n" + readme_text[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", type=Path, default=RESULTS_DIR / "run_all.md", help="run_all's markdown table")
    parser.add_argument("--readme", type=Path, default=README)
    parser.add_argument("--check", action="store_true", help="only report whether the README is up to date")
    args = parser.parse_args()
    if not args.table.is_file():
        raise BenchError(f"{args.table}: not found; run `python bench/run_all.py` (or --collect-only) first")
    current = args.readme.read_text(encoding="utf-8")
    updated = with_table(current, args.table.read_text(encoding="utf-8"))
    if args.check:
        print("up to date" if updated == current else f"{args.readme}: the Performance table differs from {args.table}")
        raise SystemExit(0 if updated == current else 1)
    atomic.write_text(args.readme, updated)
    print(f"{args.readme}: Performance table replaced from {args.table}")


if __name__ == "__main__":
    main()
