"""`adaptlab adapters inspect`, `adaptlab merge`, `adaptlab combine`, `adaptlab generate`."""

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from adaptlab.adapters.choices import CombinationType, MergeInto
from adaptlab.errors import ConfigError

ALLOW_PICKLE_HELP = "also read pickle weights (adapter_model.bin, pytorch_model.bin); only for files you trust"
ALLOW_MISMATCH_HELP = "load adapters even if they were trained on a base with different weights (hash mismatch)"


def inspect_command(
    path: Path = typer.Argument(..., help="adapter folder (a run of any adapter method, or a PEFT folder of a tuner adaptlab trains)"),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help=ALLOW_PICKLE_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
    diagnostics: bool = typer.Option(False, "--diagnostics", help="load the adapter on its base and add weight-space diagnostics per module type"),
    model: str | None = typer.Option(None, "--model", help="with --diagnostics: base model spec; default: the base the adapter records"),
) -> None:
    """Rank, alpha, targets, size, base model + hash, trainable params, what looks wrong, and optionally weight diagnostics."""
    from adaptlab.adapters.inspection import adapter_diagnostics, inspect_adapter

    info = inspect_adapter(path, allow_pickle=allow_pickle)
    if diagnostics:
        progress = Console(stderr=True)
        with _quiet_libraries(progress), progress.status("computing weight-space diagnostics"):
            info.diagnostics = adapter_diagnostics(path, model, allow_pickle=allow_pickle)
    if as_json:
        typer.echo(info.model_dump_json(indent=2))
        return
    table = _key_value_table(f"adapter {path}")
    base_hash = f"{info.base_weights_sha256[:16]}…" if info.base_weights_sha256 else "(unknown: no adaptlab metadata)"
    rows = {
        "method": info.method,
        "rank / alpha / scaling": f"{info.rank} / {info.alpha:g} / {info.scaling:.4g}" + (" (rsLoRA)" if info.use_rslora else ""),
        "rank pattern": ", ".join(f"{k}={v}" for k, v in info.rank_pattern.items()) or "-",
        "targets": ", ".join(info.target_module_kinds) or "-",
        "modules_to_save": ", ".join(info.modules_to_save) or "-",
        "base model": info.base_model_id or info.base_model_name_or_path or "?",
        "base weights sha256": base_hash,
        "parents": "\n".join(info.parents) or "-",
        "weights": f"{info.weights_file} ({info.weights_format})",
        "size on disk": _bytes(info.size_on_disk_bytes),
        "trainable params": "?" if info.trainable_params is None else f"{info.trainable_params:,}",
        "of which full copies": "?" if info.full_copy_params is None else f"{info.full_copy_params:,}",
    }
    for key, value in rows.items():
        table.add_row(key, value)
    console = Console()
    console.print(table)
    if info.diagnostics is not None:
        console.print(_diagnostics_table(info.diagnostics))
    for flag in info.warnings:
        console.print(f"[yellow]warning:[/] {flag}", highlight=False)


def _diagnostics_table(diagnostics) -> Table:
    settings = diagnostics.settings
    table = Table(title=f"weight-space diagnostics ({diagnostics.seconds:.1f} s; {diagnostics.decomposition})", title_justify="left")
    for column in ("module", "matrices", "‖ΔW‖/‖W₀‖ mean (max)", f"effective rank ({settings.energy_fraction:.0%} energy) mean (max)",
                   f"intruders (top-{settings.top_k}, |cos| < {settings.cosine_threshold:g}) total"):
        table.add_column(column, justify="left" if column == "module" else "right")
    for row in diagnostics.by_module_type:
        table.add_row(row.module_type, str(row.matrices), f"{row.relative_update_mean:.2e} ({row.relative_update_max:.2e})",
                      f"{row.effective_rank_mean:.1f} ({row.effective_rank_max})", str(row.intruder_dimensions_total))
    return table


def merge_command(
    path: Path = typer.Argument(..., help="adapter folder to merge"),
    out: Path = typer.Option(..., "--out", help="folder for the merged Hugging Face model"),
    model: str | None = typer.Option(None, "--model", help="base model spec; default: the base the adapter records"),
    into: MergeInto = typer.Option("full", "--into", help="full: merge into the full-precision base; dequantized: into the dequantized NF4 base (QLoRA)"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="reload the merged folder and compare its logits with the unmerged adapter"),
    tolerance: float | None = typer.Option(None, "--tolerance", help="largest accepted |logit difference| when verifying (default 1e-3)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists"),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help=ALLOW_PICKLE_HELP),
    allow_base_mismatch: bool = typer.Option(False, "--allow-base-mismatch", help=ALLOW_MISMATCH_HELP),
) -> None:
    """Merge an adapter (any method with a weight update: not prompt/prefix tuning) into its base: a standalone safetensors model folder."""
    from adaptlab.adapters.merge import DEFAULT_LOGIT_TOLERANCE, merge_adapter

    console = Console()
    with _quiet_libraries(console), console.status("merging") as status:
        record = merge_adapter(
            path, out, model=model, into=into, verify=verify,
            tolerance=DEFAULT_LOGIT_TOLERANCE if tolerance is None else tolerance,
            allow_pickle=allow_pickle, allow_base_mismatch=allow_base_mismatch, overwrite=overwrite,
            progress=status.update,
        )
    table = _key_value_table(f"merged {path} → {out}")
    table.add_row("adapter method", record.adapter_method)
    table.add_row("base", f"{record.base_model_id} ({record.base_weights_sha256[:16]}…)")
    table.add_row("merged into", "full-precision base" if record.merged_into == "full" else "dequantized NF4 base")
    table.add_row("largest weight change", f"{record.max_abs_weight_change:.3g}")
    for label, comparison in (("verified", record.verification), ("vs 4-bit training base", record.vs_4bit_training_base)):
        if comparison is not None:
            limit = f" ≤ {comparison.tolerance:g}" if comparison.tolerance is not None else " (measured)"
            table.add_row(label, f"max |Δlogit| {comparison.max_abs_logit_diff:.3g}{limit} over {comparison.prompts} prompts "
                                 f"(max |logit| {comparison.max_abs_logit:.3g})")
    if record.verification is None:
        table.add_row("verified", "no (--no-verify)")
    console.print(table)
    if record.merged_into == "full" and record.vs_4bit_training_base is not None:
        console.print("note: the adapter was trained on the NF4 base; `--into dequantized` merges into that base "
                      "(dequantized) instead of the full-precision one", highlight=False)


def combine_command(
    paths: list[Path] = typer.Argument(..., help="two or more adapter folders"),
    out: Path = typer.Option(..., "--out", help="folder for the combined adapter"),
    how: CombinationType = typer.Option("linear", "--how", help="how PEFT's add_weighted_adapter combines the adapters"),
    weights: str | None = typer.Option(None, "--weights", help="comma-separated, one per adapter (default: 1 each)"),
    density: float | None = typer.Option(None, "--density", help="fraction of values kept for ties, dare_*, magnitude_prune (default 0.5)"),
    svd_rank: int | None = typer.Option(None, "--svd-rank", help="rank of the result for svd types (default: largest parent rank)"),
    seed: int = typer.Option(0, "--seed", help="random seed for dare_* pruning"),
    model: str | None = typer.Option(None, "--model", help="base model spec; default: the base the first adapter records"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace --out if it exists"),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help=ALLOW_PICKLE_HELP),
    allow_base_mismatch: bool = typer.Option(False, "--allow-base-mismatch", help=ALLOW_MISMATCH_HELP),
) -> None:
    """Combine adapters into one PEFT adapter (PEFT's add_weighted_adapter), refusing incompatible ones."""
    from adaptlab.adapters.combine import DENSITY_COMBINATIONS, combine_adapters

    parsed_weights = parse_weights(weights, len(paths))
    console = Console()
    with _quiet_libraries(console), console.status("combining") as status:
        record = combine_adapters(
            paths, parsed_weights, how, out, model=model, density=density, svd_rank=svd_rank, seed=seed,
            allow_pickle=allow_pickle, allow_base_mismatch=allow_base_mismatch, overwrite=overwrite,
            progress=status.update,
        )
    table = _key_value_table(f"combined → {out}")
    table.add_row("how", how + (f" (density {record.density:g})" if how in DENSITY_COMBINATIONS else ""))
    for parent, weight in zip(record.parents, record.weights):
        table.add_row(f"weight {weight:g}", parent)
    table.add_row("rank", str(record.rank))
    table.add_row("base", f"{record.base_model_id} ({record.base_weights_sha256[:16]}…)")
    console.print(table)


def generate_command(
    prompt: str = typer.Option(..., "--prompt", help="the user message"),
    model: str | None = typer.Option(None, "--model", help="base or merged model spec; default: the base the first adapter records"),
    adapter: list[Path] = typer.Option([], "--adapter", help="adapter folder to apply (repeatable: adapters are stacked)"),
    adapter_weight: list[float] = typer.Option([], "--adapter-weight", help="weight per --adapter, in the same order (default 1)"),
    system: str | None = typer.Option(None, "--system", help="system message (used with the chat template)"),
    max_new_tokens: int = typer.Option(128, "--max-new-tokens", min=1, help="tokens to generate at most"),
    temperature: float = typer.Option(0.0, "--temperature", min=0.0, help="0 = greedy decoding; > 0 samples"),
    seed: int = typer.Option(0, "--seed", help="random seed when sampling"),
    load_in_4bit: bool = typer.Option(False, "--load-in-4bit", help="load the base as NF4 (how QLoRA adapters were trained)"),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help=ALLOW_PICKLE_HELP),
    allow_base_mismatch: bool = typer.Option(False, "--allow-base-mismatch", help=ALLOW_MISMATCH_HELP),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of text and a table"),
) -> None:
    """Generate text once from a base model, a merged model, or a base with one or more adapters."""
    from adaptlab.adapters.generate import generate_text
    from adaptlab.adapters.loading import load_base_with_adapters

    if adapter_weight and len(adapter_weight) != len(adapter):
        raise ConfigError(f"{len(adapter_weight)} --adapter-weight values for {len(adapter)} --adapter folders; give one per adapter")
    if model is None and not adapter:
        raise ConfigError("give --model, --adapter, or both")
    console = Console()
    with _quiet_libraries(console), console.status("loading") as status:
        loaded, tokenizer = load_base_with_adapters(
            model, adapter, adapter_weight or None,
            allow_pickle=allow_pickle, allow_base_mismatch=allow_base_mismatch, load_in_4bit=load_in_4bit,
        )
        status.update("generating")
        result = generate_text(loaded, tokenizer, prompt, system=system, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed)
    if as_json:
        typer.echo(json.dumps({"text": result.text, "prompt_tokens": result.prompt_tokens, "new_tokens": result.new_tokens,
                               "seconds": result.seconds, "chat_template": result.used_chat_template}, indent=2))
        return
    console.print(result.text, highlight=False, markup=False)
    table = Table(show_header=True)
    for column in ("model", "adapters (weight)", "chat template", "new tokens", "tokens/s"):
        table.add_column(column)
    weights = adapter_weight or [1.0] * len(adapter)
    table.add_row(
        model or "(from adapter)",
        "\n".join(f"{a} ({w:g})" for a, w in zip(adapter, weights)) or "-",
        "yes" if result.used_chat_template else "no",
        str(result.new_tokens),
        f"{result.tokens_per_s:.1f}",
    )
    console.print(table)


def parse_weights(text: str | None, count: int) -> list[float]:
    """'0.7,0.3' → [0.7, 0.3]; None → 1.0 for each adapter."""
    if text is None:
        return [1.0] * count
    try:
        weights = [float(part) for part in text.split(",")]
    except ValueError as exc:
        raise ConfigError(f"--weights {text!r}: expected comma-separated numbers like 0.7,0.3") from exc
    if len(weights) != count:
        raise ConfigError(f"--weights has {len(weights)} values for {count} adapters; give one per adapter")
    return weights


@contextmanager
def _quiet_libraries(console: Console) -> Iterator[None]:
    """Hide library progress bars and chatter; show our compatibility warnings after the work."""
    from transformers.utils import logging as transformers_logging

    from adaptlab.adapters.loading import AdapterCompatibilityWarning

    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                if issubclass(warning.category, AdapterCompatibilityWarning):
                    console.print(f"[yellow]warning:[/] {warning.message}", highlight=False, soft_wrap=True)


def _key_value_table(title: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    return table


def _bytes(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    scaled, unit = float(size), "B"
    for unit in ("KiB", "MiB", "GiB"):
        scaled /= 1024
        if scaled < 1024:
            break
    return f"{scaled:.1f} {unit}"


def register(app: typer.Typer) -> None:
    adapters_app = typer.Typer(help="Look inside adapter folders.", no_args_is_help=True)
    adapters_app.command("inspect")(inspect_command)
    app.add_typer(adapters_app, name="adapters")
    app.command("merge")(merge_command)
    app.command("combine")(combine_command)
    app.command("generate")(generate_command)
