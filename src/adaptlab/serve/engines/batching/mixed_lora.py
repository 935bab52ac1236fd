"""LoRA adapters applied per batch row to the plain base model, without PEFT in the forward pass.

Every adapted Linear gets a forward hook that adds each row's own adapter's update. All the batch's
adapters go through two matmuls per module: x @ A_catᵀ (their A matrices stacked), masked so each row
keeps only its adapter's columns times that adapter's scaling, then @ B_catᵀ. PEFT's mixed-adapter
batch loops over the adapters with several small ops each, which costs more than the matmuls on a
CPU, and its loader re-walks every module per adapter. The stacked copies are built when a forward
pass needs a set of adapters that no kept stack covers (at most twice as large: extra adapters cost
reads for nothing); the last STACKS_KEPT stacks are kept, so requests joining and leaving a running
batch rarely cause a rebuild. That is the "stacked" kernel; the default "gathered" kernel
(`gathered_lora`) gives each row only its own adapter's work instead.
"""

import math
from collections import OrderedDict, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from adaptlab.adapters.files import AdapterFolder, read_adapter_tensors
from adaptlab.errors import CompatibilityError
from adaptlab.serve.engines.batching.gathered_lora import row_update

LoraKernel = Literal["stacked", "gathered"]

PEFT_PREFIX = "base_model.model."
LORA_SUFFIXES = {".lora_A.weight": "a", ".lora_B.weight": "b"}
STACKS_KEPT = 2  # the running batch's set of adapters and the latest joining requests' set (their prefill)
# PEFT LoraConfig fields that leave the forward pass at scaling · B A x (or only say how weights were
# initialised or which modules carry them; the weights file says that too). Any other field set to a
# non-default value may change the forward pass: such an adapter is refused, never served approximately.
NEUTRAL_OPTIONS = frozenset(
    {
        "task_type", "peft_type", "auto_mapping", "peft_version", "base_model_name_or_path", "revision",
        "inference_mode", "r", "target_modules", "exclude_modules", "lora_alpha", "lora_dropout", "use_rslora",
        "init_lora_weights", "layers_to_transform", "layers_pattern", "rank_pattern", "megatron_config",
        "megatron_core", "loftq_config", "eva_config", "corda_config", "lora_ga_config", "qalora_group_size",
        "ensure_weight_tying", "runtime_config",
    }
)  # fmt: skip
NEUTRAL_VALUES = {"bias": "none"}
# What to do instead with an adapter of another PEFT tuner, by how its method is served (docs/serving.md)
OTHER_TUNER_HINTS = {
    "merged": "serve this version merged (`adaptlab serve --merge`)",
    "not_served": "adaptlab serve has no path for it (it adds virtual tokens to the input); use `adaptlab generate --adapter`",
}
PEFT_DEFAULT_LORA_ALPHA = 8


@dataclass(frozen=True)
class LoraModule:
    """One adapter's update of one Linear: scaling · B (A x)."""

    a: object  # torch.Tensor [rank, in_features]
    b: object  # torch.Tensor [out_features, rank]
    scaling: float


@dataclass(frozen=True)
class LoraAdapter:
    modules: dict[str, LoraModule]  # base module name -> its update

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for m in self.modules.values() for t in (m.a, m.b))


def read_lora_adapter(folder: AdapterFolder, modules: Mapping[str, object]) -> LoraAdapter:
    """The folder's LoRA weights keyed by the base's module names (`modules`: name -> module), on each
    module's device and dtype. CompatibilityError for what cannot be applied per row or does not fit."""
    import torch

    if not folder.is_lora:
        hint = OTHER_TUNER_HINTS[folder.fine_tuning.serving]
        raise CompatibilityError(f"{folder.path}: a {folder.method} adapter cannot be applied per request row; {hint}")
    config = folder.config
    used = forward_changing_options(config)
    if used:
        raise CompatibilityError(
            f"{folder.path}: {', '.join(used)} cannot be applied per request row; serve this version merged (`adaptlab serve --merge`)"
        )
    parts: dict[str, dict] = defaultdict(dict)
    for key, tensor in read_adapter_tensors(folder.weights_file).items():
        suffix = next((s for s in LORA_SUFFIXES if key.endswith(s)), None)
        if suffix is None or not key.startswith(PEFT_PREFIX):
            raise CompatibilityError(f"{folder.path}: unexpected tensor {key}; serve this version merged (`adaptlab serve --merge`)")
        parts[key[len(PEFT_PREFIX) : -len(suffix)]][LORA_SUFFIXES[suffix]] = tensor
    updates = {}
    for name, pair in parts.items():
        module = modules.get(name)
        if not isinstance(module, torch.nn.Linear):
            raise CompatibilityError(f"{folder.path}: has weights for {name}, which is not a Linear layer of the base")
        if set(pair) != {"a", "b"}:
            raise CompatibilityError(f"{folder.path}: {name} has only lora_{next(iter(pair)).upper()}; the weights file is incomplete")
        a, b = pair["a"], pair["b"]
        rank = a.shape[0]
        if a.shape != (rank, module.in_features) or b.shape != (module.out_features, rank):
            raise CompatibilityError(
                f"{folder.path}: {name} has LoRA shapes {tuple(a.shape)} and {tuple(b.shape)}, "
                f"which do not fit a {module.in_features}→{module.out_features} layer"
            )
        alpha = config.get("lora_alpha", PEFT_DEFAULT_LORA_ALPHA)
        scaling = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
        weight = module.weight
        updates[name] = LoraModule(a.to(weight.device, weight.dtype), b.to(weight.device, weight.dtype), scaling)
    return LoraAdapter(updates)


def forward_changing_options(config: Mapping[str, object]) -> list[str]:
    """The adapter config's fields, set to non-default values, that per-row serving cannot apply."""
    return sorted(
        key for key, value in config.items() if value and key not in NEUTRAL_OPTIONS and NEUTRAL_VALUES.get(key) != value
    )


@dataclass(frozen=True)
class _Stack:
    """One module's weights for a set of adapters, concatenated along the rank dimension."""

    a: object  # [Σ rank, in]
    b: object  # [out, Σ rank]
    owner: object  # [Σ rank]: position (in the set) of the adapter each rank column belongs to
    scale: object  # [Σ rank]: that adapter's scaling
    layout: tuple  # (position, rank, scaling) per adapter: modules with equal layouts share a row mask


def _stack(parts: list[tuple[int, LoraModule]]):
    import torch

    def cat(tensors, dim: int):
        return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=dim)

    first = parts[0][1].a
    ranks = torch.tensor([update.a.shape[0] for _, update in parts], device=first.device)
    positions = torch.tensor([position for position, _ in parts], device=first.device)
    scalings = torch.tensor([update.scaling for _, update in parts], dtype=first.dtype, device=first.device)
    return _Stack(
        a=cat([update.a for _, update in parts], 0),
        b=cat([update.b for _, update in parts], 1),
        owner=torch.repeat_interleave(positions, ranks),
        scale=torch.repeat_interleave(scalings, ranks),
        layout=tuple((position, update.a.shape[0], update.scaling) for position, update in parts),
    )


@dataclass(frozen=True)
class _RowMasked:
    """The stacked form's update: every row through all stacked adapters, each row keeping its own columns."""

    a: object  # [Σ rank, in]
    b: object  # [out, Σ rank]
    row_scale: object  # [rows, 1, Σ rank]: the row's adapter's scaling on its columns, 0 elsewhere

    def delta(self, x):
        import torch.nn.functional as F

        return F.linear(F.linear(x, self.a) * self.row_scale, self.b)


class MixedLora:
    """Adapters added by name to `model`; a forward pass run inside `routed(names)` (one name, or None for the
    plain base, per batch row) applies each row's adapter. Used only from the scheduler's thread.

    `kernel`: "stacked" (this module's concatenated adapters and row masks) or "gathered" (gathered_lora's
    per-row weights and batched matmuls); both give each row what PEFT gives it alone."""

    def __init__(self, model, kernel: LoraKernel = "gathered"):
        self.modules = dict(model.named_modules())
        self.kernel = kernel
        self.adapters: dict[str, LoraAdapter] = {}
        self._hooked: set[str] = set()
        self._stacks: OrderedDict[tuple[str, ...], dict] = OrderedDict()  # adapters stacked -> module -> _Stack
        self._gathered: OrderedDict[tuple[str | None, ...], dict] = OrderedDict()  # routing -> module -> its update
        self._active: dict = {}  # module -> its update (an object with .delta(x)) during a routed forward pass

    def add(self, name: str, adapter: LoraAdapter) -> None:
        for module_name in adapter.modules.keys() - self._hooked:
            self.modules[module_name].register_forward_hook(self._add_update)
            self._hooked.add(module_name)
        self.adapters[name] = adapter

    def remove(self, name: str) -> None:
        del self.adapters[name]
        self._stacks = OrderedDict((names, stacks) for names, stacks in self._stacks.items() if name not in names)
        self._gathered = OrderedDict((routing, updates) for routing, updates in self._gathered.items() if name not in routing)

    @contextmanager
    def routed(self, names: Sequence[str | None]) -> Iterator[None]:
        import torch

        needed = {name for name in names if name is not None}
        try:
            if needed and self.kernel == "gathered":
                self._active = self._gathered_for(tuple(names))
            elif needed:
                stacked, stacks = self._stacks_for(needed)
                rows = torch.tensor([stacked.index(name) if name is not None else -1 for name in names])
                masks: dict[tuple, object] = {}
                for module, stack in stacks.items():
                    if stack.layout not in masks:
                        owners = rows.to(stack.owner.device)[:, None] == stack.owner[None, :]
                        masks[stack.layout] = (owners * stack.scale[None, :])[:, None, :]
                    self._active[module] = _RowMasked(stack.a, stack.b, masks[stack.layout])
            yield
        finally:
            self._active = {}

    def _gathered_for(self, routing: tuple[str | None, ...]) -> dict:
        """module -> its update for these rows; the last STACKS_KEPT routings' updates are kept."""
        if routing in self._gathered:
            self._gathered.move_to_end(routing)
            return self._gathered[routing]
        adapters = [self.adapters[name] if name is not None else None for name in routing]
        module_names = {module_name for adapter in adapters if adapter is not None for module_name in adapter.modules}
        self._gathered[routing] = {
            self.modules[module_name]: row_update([adapter.modules.get(module_name) if adapter else None for adapter in adapters])
            for module_name in module_names
        }
        while len(self._gathered) > STACKS_KEPT:
            self._gathered.popitem(last=False)
        return self._gathered[routing]

    def _stacks_for(self, needed: set[str]) -> tuple[tuple[str, ...], dict]:
        """(the adapters stacked, module -> _Stack): the most recently used kept stack that covers `needed`
        with at most as many extra adapters as needed ones, else a new one for exactly `needed`."""
        for stacked in reversed(self._stacks):
            if needed <= set(stacked) and len(stacked) <= 2 * len(needed):
                self._stacks.move_to_end(stacked)
                return stacked, self._stacks[stacked]
        stacked = tuple(sorted(needed))
        parts: dict[str, list[tuple[int, LoraModule]]] = defaultdict(list)
        for position, name in enumerate(stacked):
            for module_name, update in self.adapters[name].modules.items():
                parts[module_name].append((position, update))
        self._stacks[stacked] = {self.modules[module_name]: _stack(module_parts) for module_name, module_parts in parts.items()}
        while len(self._stacks) > STACKS_KEPT:
            self._stacks.popitem(last=False)
        return stacked, self._stacks[stacked]

    def _add_update(self, module, inputs, output):
        active = self._active.get(module)
        if active is None:
            return None
        return output.add_(active.delta(inputs[0]))
