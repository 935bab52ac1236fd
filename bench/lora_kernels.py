"""Per-row LoRA kernels at the model level: base vs one adapter vs 8 mixed adapters, stacked vs gathered.

    python bench/lora_kernels.py            # builtin:smollm2-135m, 8 rank-16 all-linear adapters, batch 8
    python bench/lora_kernels.py --quick    # builtin:tiny: checks that the bench runs

No server: `adaptlab.serve.engines.batching.mixed_lora.MixedLora` on the plain base, with random rank-16 adapters on every
Linear of the decoder. Each round times, for every variant in turn (A B C … so load hits all alike), one
batched prefill of `--prompt-tokens` and `--decode-steps` decode steps of one token per row with the KV
cache, on `--threads` torch threads (1, as the serve bench). Medians over `--rounds`; ratios to the base.
Also checks that both kernels give the same logits. Writes bench/results/lora_kernels[_quick].json.
"""

import argparse
import os
import statistics
import time

import torch
from common import machine_description, write_results
from rich.console import Console
from rich.table import Table

from adaptlab.models import load_causal_lm, resolve_model
from adaptlab.serve.engines.batching.mixed_lora import LoraAdapter, LoraModule, MixedLora

RANK = 16


def random_adapter(model, seed: int) -> LoraAdapter:
    generator = torch.Generator().manual_seed(seed)
    modules = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name != "lm_head":
            a = torch.randn(RANK, module.in_features, generator=generator) / module.in_features**0.5
            b = torch.randn(module.out_features, RANK, generator=generator) * 0.01
            modules[name] = LoraModule(a, b, 2.0)
    return LoraAdapter(modules)


def timed_pass(model, lora: MixedLora, routing: list, prompt_tokens: int, decode_steps: int) -> tuple[float, float, object]:
    """(prefill seconds, mean decode-step seconds, last logits) for one batch routed as `routing`."""
    from transformers import DynamicCache

    rows = len(routing)
    input_ids = torch.arange(prompt_tokens).repeat(rows, 1) % 100 + 10
    with torch.inference_mode(), lora.routed(routing):
        started = time.perf_counter()
        output = model(input_ids=input_ids, past_key_values=DynamicCache(), use_cache=True, logits_to_keep=1)
        prefill_s = time.perf_counter() - started
        cache, token = output.past_key_values, output.logits[:, -1:].argmax(-1)
        started = time.perf_counter()
        for _ in range(decode_steps):
            output = model(input_ids=token, past_key_values=cache, use_cache=True)
            cache, token = output.past_key_values, output.logits[:, -1:].argmax(-1)
        decode_s = (time.perf_counter() - started) / decode_steps
    return prefill_s, decode_s, output.logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--adapters", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=24)
    parser.add_argument("--decode-steps", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=max(Console().width, 110))
    model_spec = "builtin:tiny" if args.quick else "builtin:smollm2-135m"
    model = load_causal_lm(resolve_model(model_spec).path).eval()
    names = [f"adapter{i}" for i in range(args.adapters)]
    loras = {kernel: MixedLora(model, kernel) for kernel in ("stacked", "gathered")}
    for index, name in enumerate(names):
        adapter = random_adapter(model, index)
        for lora in loras.values():
            lora.add(name, adapter)
    rows = args.adapters
    variants = {
        "base": (loras["stacked"], [None] * rows),
        "one_adapter stacked": (loras["stacked"], [names[0]] * rows),
        "one_adapter gathered": (loras["gathered"], [names[0]] * rows),
        f"mixed_{rows} stacked": (loras["stacked"], names),
        f"mixed_{rows} gathered": (loras["gathered"], names),
    }
    timings: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
    logits = {}
    loads = []
    for round_index in range(args.rounds + 1):  # round 0 warms up (and builds the kernels' weights)
        for label, (lora, routing) in variants.items():
            prefill_s, decode_s, logits[label] = timed_pass(model, lora, routing, args.prompt_tokens, args.decode_steps)
            if round_index:
                timings[label].append((prefill_s, decode_s))
        loads.append(os.getloadavg()[0])
        console.print(f"round {round_index}{' (warm-up)' if not round_index else ''} done, load {loads[-1]:.1f}")
    max_kernel_diff = float((logits[f"mixed_{rows} stacked"] - logits[f"mixed_{rows} gathered"]).abs().max())
    medians = {
        label: {"prefill_s": statistics.median(p for p, _ in runs), "decode_step_s": statistics.median(d for _, d in runs)}
        for label, runs in timings.items()
    }
    base = medians["base"]
    table = Table(title=f"{model_spec}, batch {rows}, {args.prompt_tokens}-token prefill, {args.threads} thread(s), median of {args.rounds}")
    for column in ("variant", "prefill ms", "× base", "decode step ms", "× base tokens/s"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for label, median in medians.items():
        table.add_row(
            label,
            f"{median['prefill_s'] * 1000:.1f}",
            f"{median['prefill_s'] / base['prefill_s']:.2f}×",
            f"{median['decode_step_s'] * 1000:.1f}",
            f"{base['decode_step_s'] / median['decode_step_s']:.2f}×",
        )
    console.print(table)
    console.print(f"stacked vs gathered, mixed batch: max |Δlogit| {max_kernel_diff:.2g}; load average per round {loads}")
    payload = {
        "bench": "lora_kernels",
        "model": model_spec,
        "settings": vars(args) | {"rank": RANK},
        "machine": machine_description(),
        "load_average_per_round": loads,
        "medians": medians,
        "decode_tokens_per_s_over_base": {label: base["decode_step_s"] / m["decode_step_s"] for label, m in medians.items()},
        "max_abs_logit_diff_between_kernels": max_kernel_diff,
        "runs": timings,
    }
    console.print(f"wrote {write_results('lora_kernels_quick' if args.quick else 'lora_kernels', payload)}")


if __name__ == "__main__":
    main()
