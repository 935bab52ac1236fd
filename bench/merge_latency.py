"""Greedy generation latency: a LoRA adapter applied at inference vs the same adapter merged into the base.

    python bench/merge_latency.py [--model builtin:smollm2-135m] [--rank 16] [--new-tokens 64] [--repeats 5]

Builds a rank-16 all-linear LoRA on the base (lora_B seeded random, so the adapter has an effect;
latency does not depend on trained values), merges it with `adaptlab.adapters.merge_adapter`
(verified), then times `generate` for both with the same prompt and a fixed number of new tokens.
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


def time_generation(model, input_ids, new_tokens: int, repeats: int) -> list[float]:
    """Seconds per greedy generation of exactly `new_tokens` tokens (one warm-up run first)."""
    device = next(model.parameters()).device
    input_ids = input_ids.to(device)
    timings = []
    for run in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
                           min_new_tokens=new_tokens, do_sample=False, pad_token_id=model.config.eos_token_id)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if run > 0:
            timings.append(time.perf_counter() - started)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:smollm2-135m")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-out", type=Path, default=Path(__file__).parent / "results" / "merge_latency.json")
    args = parser.parse_args()
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
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
        status.update("timing the unmerged adapter")
        unmerged, _ = load_base_with_adapters(base, [adapter])
        unmerged_s = time_generation(unmerged.to(device), input_ids, args.new_tokens, args.repeats)
        del unmerged
        status.update("timing the merged model")
        merged = load_causal_lm(Path(tmp) / "merged").eval()
        merged_s = time_generation(merged.to(device), input_ids, args.new_tokens, args.repeats)

    unmerged_median, merged_median = statistics.median(unmerged_s), statistics.median(merged_s)
    result = {
        "model": base.model_id,
        "adapter": {"rank": args.rank, "alpha": 2 * args.rank, "target_modules": "all-linear"},
        "prompt_tokens": int(input_ids.shape[1]),
        "new_tokens": args.new_tokens,
        "repeats": args.repeats,
        "unmerged_s": unmerged_s,
        "merged_s": merged_s,
        "unmerged_median_s": unmerged_median,
        "merged_median_s": merged_median,
        "unmerged_over_merged": unmerged_median / merged_median,
        "merge_verification_max_abs_logit_diff": record.verification.max_abs_logit_diff,
        "merge_verification_max_abs_logit": record.verification.max_abs_logit,
        "device": device if device == "cpu" else torch.cuda.get_device_name(0),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m_at_end": os.getloadavg()[0],
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    table = Table(title=f"greedy generation, {args.new_tokens} new tokens, {base.model_id}, {result['device']}")
    for column in ("variant", "median s", "tokens/s", "vs merged"):
        table.add_column(column)
    for label, seconds in (("LoRA applied at inference", unmerged_median), ("merged", merged_median)):
        table.add_row(label, f"{seconds:.3f}", f"{args.new_tokens / seconds:.1f}", f"{seconds / merged_median:.2f}×")
    console.print(table)
    console.print(f"merge verified: max |Δlogit| {record.verification.max_abs_logit_diff:.2g} "
                  f"(max |logit| {record.verification.max_abs_logit:.3g})")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
