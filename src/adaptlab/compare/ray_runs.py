"""`compare --launcher ray`: the comparison's runs train as parallel Ray jobs, as many at once as the cluster has
CPUs for (each takes --workers), before they are measured one by one as usual. Each job is the ordinary
`adaptlab train` child, here with its output in `logs/<run>.log` so that parallel runs do not interleave; it joins
the cluster this process connected to (RAY_ADDRESS, or the local instance started here). Staged comparisons and
learning-rate sweeps decide each run from the one before, so their runs train one after another (still on Ray)."""

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.console import Console

from adaptlab.errors import AdaptlabError
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.ray_launch import RAY_ADDRESS_VARIABLE, cluster_cpus, connect, import_ray

LOGS_DIR = "logs"


def train_in_parallel(commands: list[tuple[TrainConfig, list[str]]], console: Console) -> None:
    """`commands`: each unfinished run's config and the `adaptlab train` command that trains it."""
    if not commands:
        return
    ray = import_ray()
    started_here = connect(ray)
    workers = commands[0][0].workers
    at_once = max(1, min(len(commands), cluster_cpus(ray) // workers))
    environ = os.environ | {RAY_ADDRESS_VARIABLE: ray.get_runtime_context().gcs_address}
    console.print(f"training {len(commands)} runs as Ray jobs, {at_once} at a time (each with --workers {workers}; "
                  f"output in {Path(commands[0][0].out).parent.parent / LOGS_DIR})", highlight=False)
    try:
        with ThreadPoolExecutor(max_workers=at_once) as pool:
            failures = [failure for failure in pool.map(lambda item: train_logged(*item, environ), commands) if failure]
    finally:
        if started_here:
            ray.shutdown()
    if failures:
        raise AdaptlabError("; ".join(failures) + ". Run the same command again to resume them.")


def train_logged(run: TrainConfig, command: list[str], environ: dict[str, str]) -> str | None:
    """Train one run with its output in its log; what failed, or None."""
    run_dir = Path(run.out)
    log = run_dir.parent.parent / LOGS_DIR / f"{run_dir.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as output:
        result = subprocess.run(command, env=environ, stdout=output, stderr=subprocess.STDOUT)
    return None if result.returncode == 0 else f"training {run_dir.name} failed (exit {result.returncode}; see {log})"
