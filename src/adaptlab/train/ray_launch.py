"""`adaptlab train --launcher ray --workers N`: the same training loop in N Ray Train workers (TorchTrainer), which
form one data-parallel group (gloo on CPUs, NCCL on GPUs) that accelerate joins as it would a torchrun launch.

Ray is the scheduler, not ours: `ray.init` connects to the cluster at RAY_ADDRESS, or starts a local one. Worker 0
writes the run where `--out` says: a folder (on a cluster of several machines, on a filesystem they share) or an
fsspec URL (`s3://…`: train/run_location.py), which the driver reads run.json back from. The data files must be
readable by every worker. Needs the scale extra (`pip install 'adaptlab[scale]'`).
"""

import os
import uuid
from pathlib import Path

from adaptlab.errors import AdaptlabError, ConfigError
from adaptlab.schemas.run_record import RunRecord
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.run_location import check_url_out, read_record

RAY_ADDRESS_VARIABLE = "RAY_ADDRESS"
SCALE_EXTRA = "pip install 'adaptlab[scale]'"


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--launcher ray needs Ray Train, which is not installed: {SCALE_EXTRA}") from None
    return ray


def connect(ray) -> bool:
    """Join the cluster at RAY_ADDRESS, or start a local one; True when this process started it."""
    if ray.is_initialized():
        return False
    address = os.environ.get(RAY_ADDRESS_VARIABLE) or None
    ray.init(address=address, include_dashboard=False, configure_logging=False)
    return address is None


def cluster_cpus(ray) -> int:
    return int(ray.cluster_resources().get("CPU", 0))


def train_on_ray(config: TrainConfig, resume: bool = False) -> RunRecord:
    """Train with `config.workers` Ray Train workers; the run lands in `config.out`, written by worker 0."""
    ray = import_ray()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    check_url_out(config.out, resume)
    started_here = connect(ray)
    try:
        use_gpu = bool(ray.cluster_resources().get("GPU", 0))
        if started_here and cluster_cpus(ray) < config.workers:
            raise ConfigError(
                f"--workers {config.workers}: the local Ray instance has {cluster_cpus(ray)} CPUs; lower --workers or set "
                f"{RAY_ADDRESS_VARIABLE} to a cluster with room"
            )
        trainer = TorchTrainer(
            train_worker,
            train_loop_config={"config": config.model_dump(mode="json"), "resume": resume, "cwd": os.getcwd()},
            scaling_config=ScalingConfig(num_workers=config.workers, use_gpu=use_gpu),
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            run_config=RunConfig(name=f"adaptlab-{Path(config.out).name}-{uuid.uuid4().hex[:8]}"),
        )
        try:
            trainer.fit()
        except Exception as exc:  # Ray's TrainingFailedError carries each worker's own exception
            raise user_error(exc) or AdaptlabError(f"Ray Train run for {config.out} failed: {exc}") from exc
    finally:
        if started_here:
            ray.shutdown()
    return read_record(config.out)


def train_worker(settings: dict) -> None:
    """One Ray Train worker: the ordinary loop, in the driver's working directory (relative paths mean the same)."""
    from rich.console import Console

    from adaptlab.train.loop import train

    os.chdir(settings["cwd"])
    train(TrainConfig.model_validate(settings["config"]), resume=settings["resume"], console=Console(width=120))


def user_error(exc: BaseException) -> AdaptlabError | None:
    """The first of our own errors a worker raised (a bad config refused in every worker), so the user sees its
    message and exit code instead of Ray's traceback."""
    failures = getattr(exc, "worker_failures", None) or {}
    for failure in [*failures.values(), exc.__cause__]:
        while failure is not None:
            if isinstance(failure, AdaptlabError):
                return failure
            failure = failure.__cause__
    return None
