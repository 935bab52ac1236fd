"""Greedy generation latency: a LoRA adapter applied at inference vs the same adapter merged into the base.

    python bench/merge_latency.py [--model builtin:smollm2-135m] [--rank 16] [--new-tokens 32] [--repeats 5] [--threads 1]
    python bench/merge_latency.py --quick    # builtin:tiny: checks that the bench runs

Builds a rank-16 all-linear LoRA on the base (lora_B seeded random, so the adapter has an effect;
latency does not depend on trained values), merges it with `adaptlab.adapters.merge_adapter`
(verified), then times `generate` for both, interleaved run by run, with the same prompt and a
fixed number of new tokens; wall time and process CPU time (less disturbed by other load) are kept.
Prints a table and writes JSON (default bench/results/merge_latency.json).
"""

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from adaptlab import __version__
from adaptlab.adapters.loading import load_base_with_adapters
from adaptlab.adapters.merge import merge_adapter
from adaptlab.adapters.metadata import AdapterMetadata, write_adapter_metadata
from adaptlab.models import load_causal_lm, load_tokenizer, resolve_model

PROMPT = "Explain in a few sentences why the sky is blue."


def make_lora(base, out: Path, rank: int, seed: int) -> Path:
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(
        load_causal_lm(base.path),
        LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data = torch.randn(param.shape, generator=generator) * 0.01
    model.peft_config["default"].base_model_name_or_path = base.model_id
    model.save_pretrained(out, save_embedding_layers=False)
    write_adapter_metadata(out, AdapterMetadata(base_model_spec=base.spec, base_model_id=base.model_id,
                                                base_weights_sha256=base.weights_sha256, method="lora",
                                                adaptlab_version=__version__))
    return out


def generate_once(model, input_ids, new_tokens: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) for one greedy generation of exactly `new_tokens` tokens."""
    device = next(model.parameters()).device
    input_ids = input_ids.to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.inference_mode():
        model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
                       min_new_tokens=new_tokens, do_sample=False, pad_token_id=model.config.eos_token_id)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def time_interleaved(models: dict, input_ids, new_tokens: int, repeats: int) -> dict[str, list[tuple[float, float]]]:
    """Alternate the models run by run (after one warm-up each), so load from other processes hits both alike."""
    for model in models.values():
        generate_once(model, input_ids, new_tokens)
    timings = {label: [] for label in models}
    for _ in range(repeats):
        for label, model in models.items():
            timings[label].append(generate_once(model, input_ids, new_tokens))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: least disturbed by other load)")
    parser.add_argument("--quick", action="store_true", help="builtin:tiny, 8 new tokens, 2 repeats: checks that the bench runs")
    parser.add_argument("--json-out", type=Path, default=None, help="default bench/results/merge_latency[_quick].json")
    args = parser.parse_args()
    if args.quick:
        args.model, args.new_tokens, args.repeats = "builtin:tiny", 8, 2
    args.json_out = args.json_out or Path(__file__).parent / "results" / f"merge_latency{'_quick' if args.quick else ''}.json"
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    console = Console()
    device = "cuda" if torch.cuda.is_available() else "cpu"

    with console.status("preparing") as status, tempfile.TemporaryDirectory() as tmp:
        status.update(f"resolving {args.model}")
        base = resolve_model(args.model)
        status.update(f"building a rank-{args.rank} all-linear LoRA")
        adapter = make_lora(base, Path(tmp) / "adapter", args.rank, args.seed)
        status.update("merging (verified)")
        record = merge_adapter(adapter, Path(tmp) / "merged")
        tokenizer = load_tokenizer(base.path)
        prompt = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], tokenize=False, add_generation_prompt=True)
        input_ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
        status.update(f"timing {args.repeats} interleaved runs of each")
        unmerged, _ = load_base_with_adapters(base, [adapter])
        merged = load_causal_lm(Path(tmp) / "merged").eval()
        timings = time_interleaved({"unmerged": unmerged.to(device), "merged": merged.to(device)},
                                   input_ids, args.new_tokens, args.repeats)

    medians = {label: {"wall_s": statistics.median(w for w, _ in runs), "cpu_s": statistics.median(c for _, c in runs)}
               for label, runs in timings.items()}
    result = {
        "model": base.model_id,
        "adapter": {"rank": args.rank, "alpha": 2 * args.rank, "target_modules": "all-linear"},
        "prompt_tokens": int(input_ids.shape[1]),
        "new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "runs": {label: [{"wall_s": w, "cpu_s": c} for w, c in runs] for label, runs in timings.items()},
        "medians": medians,
        "unmerged_over_merged_wall": medians["unmerged"]["wall_s"] / medians["merged"]["wall_s"],
        "unmerged_over_merged_cpu": medians["unmerged"]["cpu_s"] / medians["merged"]["cpu_s"],
        "merge_verification_max_abs_logit_diff": record.verification.max_abs_logit_diff,
        "merge_verification_max_abs_logit": record.verification.max_abs_logit,
        "device": device if device == "cpu" else torch.cuda.get_device_name(0),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m_at_end": os.getloadavg()[0],
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    print_summary(console, result)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.json_out}")


def print_summary(console: Console, result: dict) -> None:
    medians = result["medians"]
    table = Table(title=f"greedy generation, {result['new_tokens']} new tokens, {result['model']}, {result['device']}, "
                        f"{result['torch_threads']} thread(s), median of {result['repeats']}")
    for column in ("variant", "wall s", "CPU s", "tokens/s (wall)", "wall vs merged", "CPU vs merged"):
        table.add_column(column)
    for label, title in (("unmerged", "LoRA applied at inference"), ("merged", "merged")):
        wall, cpu = medians[label]["wall_s"], medians[label]["cpu_s"]
        table.add_row(title, f"{wall:.3f}", f"{cpu:.3f}", f"{result['new_tokens'] / wall:.1f}",
                      f"{wall / medians['merged']['wall_s']:.2f}×", f"{cpu / medians['merged']['cpu_s']:.2f}×")
    console.print(table)
    console.print(f"merge verified: max |Δlogit| {result['merge_verification_max_abs_logit_diff']:.2g} "
                  f"(max |logit| {result['merge_verification_max_abs_logit']:.3g})")


if __name__ == "__main__":
    main()
