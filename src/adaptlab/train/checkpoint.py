"""Atomic training checkpoints for `--resume`.

A checkpoint folder appears by a single rename once complete, and an old one is renamed to a hidden
name before it is deleted, so after kill -9 at any moment every `step-*` folder is whole; the hidden
leftovers are never read. Random state needs no snapshot: the loop re-seeds from (seed, step, rank)
at every step.
"""

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from adaptlab.atomic import remove_tree, staging_dir
from adaptlab.errors import ArtifactError, ConfigError

CHECKPOINTS_DIR = "checkpoints"
KEEP_LAST = 2


@dataclass
class LoopState:
    """Everything besides tensors that the loop needs to continue where it stopped."""

    step: int = 0
    tokens_seen: int = 0
    train_time_s: float = 0.0
    loss_curve: list[dict] = field(default_factory=list)
    eval_curve: list[dict] = field(default_factory=list)


def trainable_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: param for name, param in model.named_parameters() if param.requires_grad}


def save_checkpoint(run_dir: Path, model: nn.Module, optimizer, scheduler, state: LoopState) -> Path:
    final = Path(run_dir) / CHECKPOINTS_DIR / f"step-{state.step:08d}"
    with staging_dir(final) as staged:
        tensors = {name: param.detach().contiguous() for name, param in trainable_parameters(model).items()}
        save_file(tensors, str(staged / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, staged / "optimizer.pt")
        (staged / "state.json").write_text(json.dumps(asdict(state)))
    for old in list_checkpoints(run_dir)[:-KEEP_LAST]:
        remove_tree(old)
    return final


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


def load_checkpoint(checkpoint: Path, model: nn.Module, optimizer, scheduler) -> LoopState:
    try:
        tensors = load_file(str(checkpoint / "trainable.safetensors"))
        saved = torch.load(checkpoint / "optimizer.pt", weights_only=True)
        state = LoopState(**json.loads((checkpoint / "state.json").read_text()))
    except (OSError, ValueError, RuntimeError) as exc:
        raise ArtifactError(f"{checkpoint}: unreadable checkpoint ({exc}); delete it to resume from an earlier one") from exc
    params = trainable_parameters(model)
    if set(tensors) != set(params):
        raise ArtifactError(f"{checkpoint}: its parameters do not match this run's trainable parameters")
    with torch.no_grad():
        for name, tensor in tensors.items():
            params[name].copy_(tensor)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    return state
