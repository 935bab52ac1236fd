"""Atomic training checkpoints for `--resume`.

A checkpoint folder appears by a single rename once complete, and an old one is renamed to a hidden
name before it is deleted, so after kill -9 at any moment every `step-*` folder is whole; the hidden
leftovers are never read. Random state needs no snapshot: the loop re-seeds from (seed, step, rank)
at every step.

Where each process holds only part of the optimizer state (FSDP2, ZeRO-2/3: `distributed.STATE_SHARDING`) the
engine saves its own shards (`Accelerator.save_state`: torch.distributed.checkpoint, DeepSpeed's engine checkpoint)
into `step-*/<strategy>/`, every process into the same staging folder; the main process renames it into place once
all are done. Elsewhere the main process writes the trainable weights (safetensors) and the optimizer state.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from adaptlab.atomic import recreate_dir, remove_tree, rename_into_place, shared_staging_path, staging_dir
from adaptlab.errors import ArtifactError, ConfigError
from adaptlab.schemas.run_record import Strategy
from adaptlab.train.distributed import SHARDED_CHECKPOINT_PICKLE, STATE_SHARDING

CHECKPOINTS_DIR = "checkpoints"
KEEP_LAST = 2
STATE_FILE = "state.json"
SCHEDULER_FILE = "scheduler.pt"


@dataclass
class LoopState:
    """Everything besides tensors that the loop needs to continue where it stopped."""

    step: int = 0
    tokens_seen: int = 0
    train_time_s: float = 0.0
    cpu_time_s: float = 0.0
    loss_curve: list[dict] = field(default_factory=list)
    eval_curve: list[dict] = field(default_factory=list)


def trainable_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: param for name, param in model.named_parameters() if param.requires_grad}


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS_DIR / f"step-{step:08d}"


def write_checkpoint(accelerator, run_dir: Path, strategy: Strategy, model: nn.Module, optimizer, scheduler, state: LoopState) -> Path:
    """Every process calls this; the checkpoint is sharded where the optimizer state is (`STATE_SHARDING`)."""
    if strategy in STATE_SHARDING:
        return save_sharded_checkpoint(accelerator, run_dir, strategy, scheduler, state)
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        save_checkpoint(run_dir, model, optimizer, scheduler, state)
    return checkpoint_dir(run_dir, state.step)


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer, scheduler, state: LoopState) -> Path:
    final = checkpoint_dir(run_dir, state.step)
    with staging_dir(final) as staged:
        tensors = {name: param.detach().contiguous() for name, param in trainable_parameters(model).items()}
        save_file(tensors, str(staged / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, staged / "optimizer.pt")
        (staged / STATE_FILE).write_text(json.dumps(asdict(state)))
    remove_old_checkpoints(run_dir)
    return final


def save_sharded_checkpoint(accelerator, run_dir: Path, strategy: Strategy, scheduler, state: LoopState) -> Path:
    """Every process calls this: each saves its shards with the engine, then the main process adds the loop's state
    and the schedule and renames the folder into place."""
    final = checkpoint_dir(run_dir, state.step)
    staged = shared_staging_path(final)
    if accelerator.is_main_process:
        recreate_dir(staged)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(staged / strategy))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        torch.save(scheduler.state_dict(), staged / SCHEDULER_FILE)
        (staged / STATE_FILE).write_text(json.dumps(asdict(state)))
        rename_into_place(staged, final)
        remove_old_checkpoints(run_dir)
    accelerator.wait_for_everyone()
    return final


def remove_old_checkpoints(run_dir: Path) -> None:
    for old in list_checkpoints(run_dir)[:-KEEP_LAST]:
        remove_tree(old)


def create_run_dir(run_dir: Path) -> None:
    """Make the output folder before anything is loaded, so an unusable --out (a file, a folder that cannot be
    written) is a ConfigError naming it, not a traceback minutes later."""
    try:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"--out {run_dir}: is a file, not a folder; choose another --out") from None
    except OSError as exc:
        reason = f"cannot create the output folder ({exc.strerror})"
        raise ConfigError(f"--out {run_dir}: {reason}; choose another --out") from None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """The whole checkpoints, oldest first (temporaries are hidden names, so `step-*` never matches them)."""
    folder = Path(run_dir) / CHECKPOINTS_DIR
    return sorted(path for path in folder.glob("step-*") if path.is_dir())


def check_resumable(checkpoint: Path | None, strategy: Strategy, allow_pickle: bool) -> None:
    """Refuse, before anything loads, a checkpoint this strategy's engine cannot read, or would read with pickle
    without the user's --allow-pickle."""
    if checkpoint is None or strategy not in STATE_SHARDING:
        return
    if not (checkpoint / strategy).is_dir():
        raise ConfigError(f"{checkpoint}: not a {strategy} checkpoint; resume with the strategy (accelerate config) the run trained with")
    if not allow_pickle:
        raise ConfigError(
            f"{checkpoint}: resuming a {strategy} checkpoint reads pickle ({SHARDED_CHECKPOINT_PICKLE[strategy]}); "
            "add --allow-pickle to resume if you trust this folder"
        )


def restore_before_prepare(checkpoint: Path | None, strategy: Strategy, model: nn.Module, optimizer, scheduler) -> LoopState:
    """The loop's state from a whole checkpoint, loaded into the still unwrapped model; a fresh state otherwise."""
    if checkpoint is None or strategy in STATE_SHARDING:
        return LoopState()
    return load_checkpoint(checkpoint, model, optimizer, scheduler)


def restore_after_prepare(accelerator, checkpoint: Path | None, strategy: Strategy, scheduler, state: LoopState) -> LoopState:
    """Every process calls this after `prepare`: the engine reads back each process's shards of a sharded checkpoint."""
    if checkpoint is None or strategy not in STATE_SHARDING:
        return state
    try:
        accelerator.load_state(str(checkpoint / strategy))
        scheduler.load_state_dict(torch.load(checkpoint / SCHEDULER_FILE, weights_only=True))
        return LoopState(**json.loads((checkpoint / STATE_FILE).read_text()))
    except (OSError, ValueError, RuntimeError) as exc:
        raise unreadable(checkpoint, exc) from exc


def load_checkpoint(checkpoint: Path, model: nn.Module, optimizer, scheduler) -> LoopState:
    try:
        tensors = load_file(str(checkpoint / "trainable.safetensors"))
        saved = torch.load(checkpoint / "optimizer.pt", weights_only=True)
        state = LoopState(**json.loads((checkpoint / STATE_FILE).read_text()))
    except (OSError, ValueError, RuntimeError) as exc:
        raise unreadable(checkpoint, exc) from exc
    params = trainable_parameters(model)
    if set(tensors) != set(params):
        raise ArtifactError(f"{checkpoint}: its parameters do not match this run's trainable parameters")
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    return state


def unreadable(checkpoint: Path, exc: Exception) -> ArtifactError:
    return ArtifactError(f"{checkpoint}: unreadable checkpoint ({exc}); delete it to resume from an earlier one")
