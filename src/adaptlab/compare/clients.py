"""The measured hybrid: `compare --methods full,lora,hybrid --base-data shared.jsonl --data a.jsonl --data b.jsonl`.

Full fine-tuning on the shared data gives the hybrid's base (trained once); then every client's data set is a
comparison of its own (adaptlab.compare.runner, unchanged: same metrics, intervals and forgetting), in which the
hybrid is LoRA on that tuned base and the other methods train on the original base. The folder:
    compare.yaml, configs/, runs/tuned-base/     the shared base's run
    clients/<name>/                              one comparison per client (its own report.{md,html,json})
    report.{md,html,json}                        per client side by side, and the weights to serve N clients
"""

import os
from pathlib import Path

import yaml
from rich.console import Console

from adaptlab import atomic
from adaptlab.compare.clients_report import (
    ClientComparison,
    ClientsComparison,
    print_clients_summary,
    write_clients_reports,
)
from adaptlab.compare.config import CompareConfig
from adaptlab.compare.costs import cost_usd
from adaptlab.compare.runner import (
    COMPARE_CONFIG_FILE,
    check_compare_dir,
    compare,
    price_used,
    run_method,
    total_steps,
)
from adaptlab.compare.schema import Comparison, TunedBaseSummary
from adaptlab.data import prepare_data
from adaptlab.models import load_tokenizer, resolve_model

CLIENTS_DIR = "clients"
TUNED_BASE_RUN = Path("runs") / "tuned-base"


def compare_any(config: CompareConfig, console: Console | None = None) -> Comparison | ClientsComparison:
    """One comparison, or one per client on a shared tuned base when --base-data is given."""
    return compare_clients(config, console) if config.base_data else compare(config, console)


def compare_clients(config: CompareConfig, console: Console | None = None) -> ClientsComparison:
    console = console or Console()
    out = Path(config.out)
    check_compare_dir(out, config)
    names = client_names(config.data)
    atomic.write_text(out / COMPARE_CONFIG_FILE, yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    tuned_base = train_tuned_base(config, out, console)
    clients = []
    for name, data_file in zip(names, config.data, strict=True):
        client_out = out / CLIENTS_DIR / name
        console.rule(f"client {name}: {data_file}")
        relative_base = tuned_base.model_copy(update={"run_dir": os.path.relpath(out / tuned_base.run_dir, client_out)})
        comparison = compare(config.model_copy(update={"data": [data_file], "out": client_out}), console, tuned_base=relative_base)
        clients.append(ClientComparison(name=name, data_file=str(data_file), folder=f"{CLIENTS_DIR}/{name}", comparison=comparison))
    report = ClientsComparison(tuned_base=tuned_base, clients=clients)
    write_clients_reports(report, out)
    print_clients_summary(report, console)
    console.print(f"reports: {out / 'report.md'}  {out / 'report.html'}  {out / 'report.json'}")
    return report


def train_tuned_base(config: CompareConfig, out: Path, console: Console) -> TunedBaseSummary:
    """The hybrid's base: the tuning method (full fine-tuning) on --base-data, over its own epochs or --max-steps."""
    method = config.tuned_base_methods[0]
    base = resolve_model(config.model)
    tokenizer = load_tokenizer(base.path)
    shared = prepare_data(config.base_data, [], tokenizer, config)
    steps = total_steps(config, shared.train, tokenizer.pad_token_id)
    learning_rate, _ = config.learning_rate_for(method)
    run_dir = out / TUNED_BASE_RUN
    record = run_method(config.train_config(method, learning_rate, run_dir, max_steps=steps, data=config.base_data, eval_data=[]), console)
    price = price_used(config, record.environment.hardware)
    return TunedBaseSummary(
        method=method,
        run_dir=TUNED_BASE_RUN.as_posix(),
        weights_sha256=resolve_model(str(run_dir)).weights_sha256,
        data_files=[str(path) for path in config.base_data],
        artifact_size_bytes=record.artifact.size_bytes,
        peak_memory_bytes=record.metrics.peak_memory_bytes,
        train_time_s=record.metrics.wall_time_s,
        cost_usd=cost_usd(record.metrics.wall_time_s, price.per_hour_usd),
    )


def client_names(files: list[Path]) -> list[str]:
    """A folder name per client from its file's stem; a repeated stem gets its position appended."""
    stems = [Path(file).stem for file in files]
    return [stem if stems.count(stem) == 1 else f"{stem}-{index + 1}" for index, stem in enumerate(stems)]
