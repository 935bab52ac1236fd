"""Evaluating one trained run in compare: one shared paired pass per text vs the separate loss passes it replaced.

    python bench/evaluation_passes.py [--model builtin:smollm2-135m] [--reference-chars 12000] [--held-out 32] [--repeats 3]
    python bench/evaluation_passes.py --quick      # builtin:tiny

Both sides measure the same figures for one run (a tuned model beside the bare base):
- separate (before): the tuned model's per-example losses on the reference text and on the held-out examples
  (`adaptlab.eval.loss.example_losses`, as the comparison's intervals took them), the base's reference losses
  (once per form of the base, shared by the runs on it: reported apart), then the paired pass (`paired_token_sums`)
  over the reference text and the first 64 held-out examples for forgetting and KL;
- shared (now, adaptlab.compare.evaluation): the paired pass over the reference text and all held-out examples,
  whose losses feed the intervals and the forgetting signals alike.
The tuned model is a rank-16 all-linear LoRA with random B (forward cost does not depend on trained values).
The two sides alternate, `--repeats` times each; medians of wall and process CPU time, and their ratio, are
printed and written to bench/results/evaluation_passes[_quick].json.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from common import RESULTS_DIR
from rich.console import Console
from rich.table import Table

from adaptlab import atomic
from adaptlab.data import prepare_data
from adaptlab.data.glossary_task import glossary_task, write_jsonl
from adaptlab.data.options import DataOptions
from adaptlab.eval.forgetting import reference_examples, reference_text
from adaptlab.eval.kl import paired_token_sums
from adaptlab.eval.loss import example_losses
from adaptlab.models import load_causal_lm, load_tokenizer, resolve_model

OLD_PAIRED_HELD_OUT = 64  # the forgetting pass took the first metric_examples (default 64) held-out rows


def lora_model(base_path: Path):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(load_causal_lm(base_path), LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(0)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn(param.shape, generator=generator) * 0.01
    return model.eval()


def timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--reference-chars", type=int, default=12_000, help="slice of the built-in reference text")
    parser.add_argument("--held-out", type=int, default=32, help="held-out glossary rows")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="builtin:tiny, a short reference")
    args = parser.parse_args()
    if args.quick:
        args.model, args.reference_chars = "builtin:tiny", 3000
    console = Console()
    base_spec = resolve_model(args.model)
    tokenizer = load_tokenizer(base_spec.path)
    pad = tokenizer.pad_token_id
    reference = reference_examples(tokenizer, reference_text()[: args.reference_chars])
    with tempfile.TemporaryDirectory() as folder:
        train_rows, eval_rows = glossary_task(8, args.held_out, seed=0)
        write_jsonl(train_rows, Path(folder) / "train.jsonl")
        write_jsonl(eval_rows, Path(folder) / "eval.jsonl")
        held_out = prepare_data([Path(folder) / "train.jsonl"], [Path(folder) / "eval.jsonl"], tokenizer, DataOptions(max_seq_len=256)).eval
    base, tuned = load_causal_lm(base_spec.path).eval(), lora_model(base_spec.path)

    sides = {
        "separate: tuned losses + paired passes": lambda: (
            example_losses(tuned, reference, pad), example_losses(tuned, held_out, pad),
            paired_token_sums(base, tuned, reference, pad), paired_token_sums(base, tuned, held_out[:OLD_PAIRED_HELD_OUT], pad),
        ),
        "separate: the base's reference losses (per base form)": lambda: example_losses(base, reference, pad),
        "shared: paired passes": lambda: (paired_token_sums(base, tuned, reference, pad), paired_token_sums(base, tuned, held_out, pad)),
    }
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for _ in range(args.repeats):
        for name, work in sides.items():
            times[name].append(timed(work))
    medians = {name: (statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)) for name, runs in times.items()}
    separate_names = list(sides)[:2]
    separate = tuple(sum(medians[name][i] for name in separate_names) for i in (0, 1))
    shared = medians["shared: paired passes"]

    table = Table(title=f"Evaluating one run: {base_spec.model_id}, {len(reference)} reference chunks "
                        f"({sum(len(e.input_ids) for e in reference):,} tokens), {len(held_out)} held-out examples")
    for column in ("side", "wall s (median)", "CPU s (median)"):
        table.add_column(column)
    for name, (wall, cpu) in medians.items():
        table.add_row(name, f"{wall:.2f}", f"{cpu:.2f}")
    table.add_row("separate, all", f"{separate[0]:.2f}", f"{separate[1]:.2f}")
    console.print(table)
    ratios = {
        "separate_all_over_shared_wall": separate[0] / shared[0],
        "separate_all_over_shared_cpu": separate[1] / shared[1],
        "separate_per_run_over_shared_wall": medians[separate_names[0]][0] / shared[0],
    }
    console.print(f"ratio separate / shared: wall {ratios['separate_all_over_shared_wall']:.2f}×, CPU {ratios['separate_all_over_shared_cpu']:.2f}× "
                  f"(without the base's pass, shared by the runs on it: {ratios['separate_per_run_over_shared_wall']:.2f}×)")
    out = RESULTS_DIR / f"evaluation_passes{'_quick' if args.quick else ''}.json"
    atomic.write_json(out, {
        "model": base_spec.model_id, "reference_chunks": len(reference), "held_out_examples": len(held_out), "repeats": args.repeats,
        "threads": torch.get_num_threads(), "median_s": {name: {"wall": w, "cpu": c} for name, (w, c) in medians.items()}, "ratios": ratios,
    })
    console.print(f"written {out}")


if __name__ == "__main__":
    main()
