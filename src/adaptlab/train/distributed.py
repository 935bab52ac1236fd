"""How a run's processes share the work (docs/training.md "Scaling out"): the strategy the launcher asked for —
data-parallel (accelerate DDP, Ray Train workers), FSDP2, DeepSpeed ZeRO-2 or ZeRO-3 — set up so that it runs
on CPUs over gloo as on GPUs; which methods may be sharded; the whole model gathered for saving; what the engines'
own sharded checkpoints read back; and the topology run.json records.

accelerate decides most of it from the environment `accelerate launch --config_file` sets. Two gaps are
filled here: on a machine without a GPU accelerate enables FSDP only for its multi-device process types, so
the shared state is declared multi-device first (the device stays the CPU); and DeepSpeed is given the gloo
backend and the loop's micro-batch size (the loop has no dataloader for accelerate to read it from).
"""

import os
import socket
from collections.abc import Mapping

import torch

from adaptlab.errors import ConfigError
from adaptlab.methods import FineTuningMethod
from adaptlab.schemas.run_record import Strategy, Topology
from adaptlab.schemas.train_config import TrainConfig

PARAMETER_SHARDING: tuple[Strategy, ...] = ("fsdp2", "zero3")  # each process holds a shard of every weight
STATE_SHARDING: tuple[Strategy, ...] = ("fsdp2", "zero2", "zero3")  # the optimizer state is split across processes
# What `Accelerator.load_state` reads with pickle when it resumes a sharded checkpoint (docs/training.md "Scaling out")
SHARDED_CHECKPOINT_PICKLE: dict[Strategy, str] = {
    "fsdp2": "torch.distributed.checkpoint unpickles each folder's .metadata file and the state's non-tensor values",
    "zero2": "DeepSpeed reads its *_states.pt files with torch.load(weights_only=False)",
    "zero3": "DeepSpeed reads its *_states.pt files with torch.load(weights_only=False)",
}
ZERO_STAGES: dict[int, Strategy] = {2: "zero2", 3: "zero3"}
DEEPSPEED_ACCELERATOR_VARIABLE = "DS_ACCELERATOR"
TRAINED_MODEL_ATTRIBUTE = "model"  # every objective's loss module holds the trained model as `.model`


def launcher_flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "false").lower() == "true"


def create_accelerator(environ: Mapping[str, str] = os.environ):
    """The Accelerator for the strategy `accelerate launch` configured, made to work on a CPU-only machine too."""
    from accelerate import Accelerator, PartialState
    from accelerate.utils import DistributedType, InitProcessGroupKwargs

    on_cpu = not torch.cuda.is_available()
    if on_cpu:  # DeepSpeed, when installed, is imported by accelerate and would warn that it found no GPU in every run
        os.environ.setdefault(DEEPSPEED_ACCELERATOR_VARIABLE, "cpu")
    if launcher_flag(environ, "ACCELERATE_USE_FSDP") and environ.get("FSDP_VERSION", "1") != "2":
        raise ConfigError(
            "FSDP version 1 is not supported (on CPU it crashes saving a whole state dict and saves PEFT adapters empty); "
            "set fsdp_version: 2 in the accelerate config (configs/accelerate/fsdp2.yaml)"
        )
    if on_cpu and launcher_flag(environ, "ACCELERATE_USE_DEEPSPEED"):
        if launcher_flag(environ, "ACCELERATE_USE_CPU"):
            raise ConfigError("DeepSpeed runs on CPU with use_cpu: false in the accelerate config (configs/accelerate/zero3.yaml)")
        return Accelerator(cpu=False, kwargs_handlers=[InitProcessGroupKwargs(backend="gloo")])
    if on_cpu and launcher_flag(environ, "ACCELERATE_USE_FSDP"):
        state = PartialState(cpu=True)  # joins the launched group over gloo
        if state.distributed_type == DistributedType.MULTI_CPU:
            state.distributed_type = DistributedType.MULTI_GPU  # accelerate's gate for FSDP; the device stays the CPU
    # cpu=True without a GPU: accelerate then runs multi-process launches data-parallel over gloo
    return Accelerator(cpu=on_cpu)


def run_strategy(accelerator, launcher: str) -> Strategy:
    from accelerate.utils import DistributedType

    if launcher == "ray":
        return "ray"
    if accelerator.distributed_type == DistributedType.DEEPSPEED:
        stage = accelerator.state.deepspeed_plugin.zero_stage
        if stage not in ZERO_STAGES:
            raise ConfigError(f"DeepSpeed ZeRO stage {stage}: adaptlab trains with stage 2 or 3 (configs/accelerate/zero2.yaml, zero3.yaml)")
        return ZERO_STAGES[stage]
    if accelerator.is_fsdp2:
        return "fsdp2"
    return "ddp" if accelerator.num_processes > 1 else "single"


def check_strategy(strategy: Strategy, method: FineTuningMethod) -> None:
    """Refuse, before loading anything, what the strategy cannot do with this method."""
    if strategy in PARAMETER_SHARDING and method.sharding_refusal:
        raise ConfigError(f"--method {method.name} cannot train under {strategy}: {method.sharding_refusal}")


def configure_strategy(accelerator, config: TrainConfig, loss_module) -> None:
    """What the sharding engines need from the run before `prepare`.

    FSDP2: its shard units are the model's decoder layers (its `_no_split_modules`; the loss module that `prepare`
    wraps has none of its own), and checkpoints keep each process's shards (torch.distributed.checkpoint; the final
    artifact is gathered whatever the config's state-dict type). DeepSpeed: the micro-batch size (no dataloader to
    read it from), clipping, and the whole weights gathered for saving; accumulation stays the loop's, which marks a step's last micro-batch
    (`sync_gradients`), so DeepSpeed's own count is 1 and it does not rescale the loss. ZeRO-3 also gathers the
    weights the loss module reads outside their own module's forward."""
    model = getattr(loss_module, TRAINED_MODEL_ATTRIBUTE)
    fsdp = getattr(accelerator.state, "fsdp_plugin", None)
    if fsdp is not None and fsdp.transformer_cls_names_to_wrap is None:
        fsdp.transformer_cls_names_to_wrap = list(getattr(model, "_no_split_modules", None) or []) or None
    if fsdp is not None:
        fsdp.state_dict_config = fsdp.optim_state_dict_config = None  # made anew for the sharded type
        fsdp.set_state_dict_type("SHARDED_STATE_DICT")
    deepspeed_plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if deepspeed_plugin is None:
        return
    settings = deepspeed_plugin.deepspeed_config
    settings["train_micro_batch_size_per_gpu"] = config.micro_batch_size
    settings["train_batch_size"] = config.micro_batch_size * accelerator.num_processes
    settings["gradient_accumulation_steps"] = 1
    settings["gradient_clipping"] = config.max_grad_norm or 0.0
    settings.setdefault("zero_optimization", {})["stage3_gather_16bit_weights_on_model_save"] = True
    if deepspeed_plugin.zero_stage == 3:
        from deepspeed.runtime.zero.partition_parameters import register_external_parameter

        for parameter in getattr(loss_module, "parameters_read_outside_their_module", list)():
            register_external_parameter(loss_module, parameter)


def gathered_weights(accelerator, loss_module, strategy: Strategy) -> dict | None:
    """The trained model's whole state dict, gathered from every process (each must call this) to the main one;
    None when each process already holds the whole model."""
    if strategy not in PARAMETER_SHARDING:
        return None
    prefix = f"{TRAINED_MODEL_ATTRIBUTE}."
    state = accelerator.get_state_dict(loss_module) or {}  # ZeRO-3 gathers to the main process only
    return {name[len(prefix):]: tensor for name, tensor in state.items() if name.startswith(prefix)}


def topology(accelerator, strategy: Strategy) -> Topology:
    """Processes and machines of the run (collective: every process calls it)."""
    from accelerate.utils import gather_object

    hosts = gather_object([socket.gethostname()]) if accelerator.num_processes > 1 else [socket.gethostname()]
    return Topology(strategy=strategy, processes=accelerator.num_processes, nodes=len(set(hosts)))
