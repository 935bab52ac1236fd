"""adaptlab training vs `transformers.Trainer` + `peft` on the same model, data, seed and tokens.

    python bench/train_vs_hf.py            # SmolLM2-135M on ../shared/data/alpaca_en_demo.json (~10 min on 2 cores)
    python bench/train_vs_hf.py --quick    # builtin:tiny on generated rows (< 1 min)

Both sides train one epoch over the same tokenized examples (adaptlab's prepare_data output, so
masks and non-padding tokens are identical), LoRA r=16 alpha=32 dropout=0 all-linear (PEFT's and adaptlab's default), the same
learning rate, cosine schedule, micro-batch, seed and grad clipping. Configurations:

- hf_lora_defaults: Trainer defaults (fp32, DataCollatorForSeq2Seq padding to the longest row)
- hf_lora_best:     bf16=True + DataCollatorWithFlattening (padding-free packing, no cross-example attention)
- adaptlab_lora:    bf16 autocast + packing (adaptlab.train.loop.train)
- adaptlab_full:    full fine-tuning, bf16 autocast + packing
- hf_full_best:     Trainer full fine-tuning, bf16=True + DataCollatorWithFlattening + optim adamw_torch_fused

The Trainer "best" configurations use its fused AdamW (optim="adamw_torch_fused"), as adaptlab's default
--optimizer-kernel fused does; "× HF best" compares each configuration with the best Trainer configuration
of the same method (LoRA or full).

Each runs in a fresh process (peak RSS is per process). Non-padding tokens are counted from what each
side actually fed the model. Eval loss: adaptlab.eval.loss.evaluate_loss (fp32) on the same held-out
rows after training, for every configuration. MFU = tokens/s × FLOPs/token / the matmul peak this bench
measures (fp32 or bf16 to match the run); FLOPs/token: full 6N, LoRA 4N + 6·N_lora (see common.py).
Prints a table and writes bench/results/train_vs_hf.json (or --out).
"""

import argparse
import json
import time
from pathlib import Path

from common import (
    adaptlab_worker,
    bench_workdir,
    emit_result,
    gib,
    machine_description,
    matmul_parameter_count,
    measured_matmul_peak_flops,
    model_flops_utilisation,
    quick_alpaca_rows,
    ratio,
    read_alpaca_demo,
    run_worker,
    shared_train_config,
    split_data_files,
    training_flops_per_token,
    write_results,
)
from rich.console import Console
from rich.table import Table

from adaptlab.train.environment import peak_rss_bytes

SCRIPT = Path(__file__).resolve()
LORA = {"rank": 16, "alpha": 32.0, "dropout": 0.0}
LEARNING_RATES = {"lora": 2e-4, "full": 1e-5}
CONFIGURATIONS = {
    # name: (engine, method, precision, batching)
    "hf_lora_defaults": ("hf", "lora", "fp32", "padding"),
    "hf_lora_best": ("hf", "lora", "bf16", "flattening"),
    "adaptlab_lora": ("adaptlab", "lora", "bf16", "packing"),
    "adaptlab_full": ("adaptlab", "full", "bf16", "packing"),
    "hf_full_best": ("hf", "full", "bf16", "flattening"),
}
HF_OPTIMIZERS = {"hf_lora_best": "adamw_torch_fused", "hf_full_best": "adamw_torch_fused"}  # others: Trainer's default
PROFILES = {
    "default": {"model": "builtin:smollm2-135m", "train_rows": 120, "eval_rows": 24, "max_seq_len": 256, "micro_batch_size": 4},
    "quick": {"model": "builtin:tiny", "train_rows": 32, "eval_rows": 8, "max_seq_len": 128, "micro_batch_size": 4},
}


def hf_worker(spec: dict) -> dict:
    """transformers.Trainer + peft on adaptlab's tokenized examples; counts the non-padding tokens it feeds."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        DataCollatorForSeq2Seq,
        DataCollatorWithFlattening,
        Trainer,
        TrainingArguments,
    )

    from adaptlab.data import prepare_data
    from adaptlab.eval.loss import evaluate_loss
    from adaptlab.methods import get_method
    from adaptlab.models import load_causal_lm, load_tokenizer, resolve_model
    from adaptlab.schemas.train_config import TrainConfig

    config = TrainConfig(**spec["train_config"])
    torch.manual_seed(config.seed)
    base = resolve_model(config.model)
    tokenizer = load_tokenizer(base.path)
    data = prepare_data(config.data, config.eval_data, tokenizer, config)
    model = load_causal_lm(base.path)
    if config.method == "lora":
        lora = LoraConfig(r=config.rank, lora_alpha=config.alpha, lora_dropout=config.dropout, target_modules="all-linear", task_type="CAUSAL_LM")
        model = get_peft_model(model, lora)
    rows = [{"input_ids": example.input_ids, "labels": example.labels} for example in data.train]
    padding_free = spec["batching"] == "flattening"
    collator = DataCollatorWithFlattening() if padding_free else DataCollatorForSeq2Seq(tokenizer, padding="longest")
    counter = {"tokens": 0}

    def counting_collator(features):
        batch = collator(features)
        counter["tokens"] += sum(len(feature["input_ids"]) for feature in features)
        return batch

    arguments = TrainingArguments(
        output_dir=spec["workdir"],
        per_device_train_batch_size=config.micro_batch_size,
        num_train_epochs=1,
        learning_rate=get_method(config.method).learning_rate(config),
        lr_scheduler_type="cosine",
        max_grad_norm=config.max_grad_norm,
        seed=config.seed,
        bf16=config.precision == "bf16",
        use_cpu=not torch.cuda.is_available(),
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
        optim=spec.get("optim", "adamw_torch"),
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=rows, data_collator=counting_collator)
    started = time.perf_counter()
    trainer.train()
    train_time_s = time.perf_counter() - started
    trained = trainer.model
    eval_loss = evaluate_loss(trained, data.eval, tokenizer.pad_token_id, batch_size=4).loss if data.eval else None
    language_model = trained.get_base_model() if hasattr(trained, "get_base_model") else trained
    return {
        "name": spec["name"],
        "tokens": counter["tokens"],
        "train_time_s": train_time_s,
        "tokens_per_s": counter["tokens"] / train_time_s,
        "peak_rss_bytes": peak_rss_bytes(),
        "training_peak_rss_bytes": None,
        "eval_loss": eval_loss,
        "matmul_params": matmul_parameter_count(language_model),
        "trainable_params": sum(p.numel() for p in trained.parameters() if p.requires_grad),
        "steps": trainer.state.global_step,
        "torch_threads": torch.get_num_threads(),
    }


def worker_spec(name: str, profile: dict, train_file: Path, eval_file: Path, workdir: Path) -> dict:
    engine, method, precision, batching = CONFIGURATIONS[name]
    train_config = shared_train_config(name, method, profile, train_file, eval_file, workdir) | {
        "packing": batching == "packing",
        "precision": precision,
        "learning_rate": LEARNING_RATES[method],
        **LORA,
    }
    return {
        "name": name,
        "engine": engine,
        "batching": batching,
        "optim": HF_OPTIMIZERS.get(name, "adamw_torch"),
        "workdir": str(workdir / f"{name}-trainer"),
        "train_config": train_config,
    }


def with_mfu(result: dict, method: str, precision: str, peaks: dict) -> dict:
    adapter_params = 0 if method == "full" else result["trainable_params"]
    flops_per_token = training_flops_per_token(method, result["matmul_params"], adapter_params)
    peak = peaks["bfloat16" if precision == "bf16" else "float32"]
    return result | {"flops_per_token": flops_per_token, "mfu": model_flops_utilisation(result["tokens_per_s"], flops_per_token, peak)}


def results_table(results: list[dict], title: str) -> Table:
    by_name = {result["name"]: result for result in results}
    defaults = by_name.get("hf_lora_defaults")
    table = Table(title=title)
    table.add_column("configuration", no_wrap=True)
    for column in ("tokens", "tokens/s", "×HF def", "×HF best", "RSS GiB", "RSS ×HF def", "eval loss", "MFU"):
        table.add_column(column, justify="right", no_wrap=True)
    for result in results:
        best = by_name.get(f"hf_{CONFIGURATIONS[result['name']][1]}_best")
        table.add_row(
            result["name"],
            f"{result['tokens']:,}",
            f"{result['tokens_per_s']:,.0f}",
            ratio(result["tokens_per_s"], defaults and defaults["tokens_per_s"]),
            ratio(result["tokens_per_s"], best and best["tokens_per_s"]),
            gib(result["peak_rss_bytes"]),
            ratio(result["peak_rss_bytes"], defaults and defaults["peak_rss_bytes"]),
            "-" if result["eval_loss"] is None else f"{result['eval_loss']:.4f}",
            f"{100 * result['mfu']:.1f}%",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="builtin:tiny on generated rows, under a minute")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGURATIONS), default=list(CONFIGURATIONS))
    parser.add_argument("--out", type=Path, default=None, help="result JSON (default bench/results/train_vs_hf[_quick].json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec = json.loads(args.worker)
        emit_result((hf_worker if spec["engine"] == "hf" else adaptlab_worker)(spec))
        return

    console = Console(width=max(Console().width, 110))
    profile_name = "quick" if args.quick else "default"
    profile = PROFILES[profile_name]
    rows = quick_alpaca_rows(profile["train_rows"] + profile["eval_rows"]) if args.quick else read_alpaca_demo()
    workdir = bench_workdir()
    train_file, eval_file = split_data_files(rows, profile["train_rows"], profile["eval_rows"], workdir)
    with console.status("measuring the matmul peak (fp32, bf16)"):
        peaks = {dtype: measured_matmul_peak_flops(dtype, seconds=1.0 if args.quick else 3.0) for dtype in ("float32", "bfloat16")}
    console.print(f"matmul peak: fp32 {peaks['float32'] / 1e9:,.1f} GFLOP/s, bf16 {peaks['bfloat16'] / 1e9:,.1f} GFLOP/s")
    results = []
    for name in args.configs:
        _, method, precision, _ = CONFIGURATIONS[name]
        with console.status(f"running {name} in a fresh process"):
            result = run_worker(SCRIPT, worker_spec(name, profile, train_file, eval_file, workdir), console)
        results.append(with_mfu(result, method, precision, peaks))
        console.print(f"{name}: {result['tokens_per_s']:,.0f} tokens/s, eval loss {result['eval_loss']:.4f}")
    title = f"train vs Trainer+PEFT — {profile['model']}, {profile['train_rows']} rows, seq ≤ {profile['max_seq_len']}"
    console.print(results_table(results, title))
    payload = {
        "bench": "train_vs_hf",
        "profile": profile_name,
        "settings": profile | {"lora": LORA, "learning_rates": LEARNING_RATES, "configurations": {n: CONFIGURATIONS[n] for n in args.configs}},
        "machine": machine_description() | {"matmul_peak_flops": peaks},
        "results": results,
    }
    path = write_results(f"train_vs_hf{'_quick' if args.quick else ''}", payload, args.out)
    console.print(f"results written to {path}")


if __name__ == "__main__":
    main()
