"""Weight-space diagnostics of a fine-tuning update ΔW, per adapted module type (q_proj, …, down_proj)
aggregated over layers:

- relative update size ‖ΔW‖_F / ‖W₀‖_F;
- effective rank: how many singular values of ΔW cover `energy_fraction` of its energy (Σσ²);
- intruder dimensions (Shuttleworth et al. 2024, "LoRA vs Full Fine-tuning: An Illusion of Equivalence"):
  among the top-`top_k` left singular vectors of W₀ + ΔW, those whose largest |cosine| with any left
  singular vector of W₀ is below `cosine_threshold`. LoRA tends to create them, full fine-tuning does not.

ΔW is W_ft − W₀ for full fine-tuning and, for the LoRA family, the scaled B·A (DoRA: including its
magnitude rescaling) against the base the adapter trained on (the dequantized NF4 base for QLoRA).
Decompositions are exact symmetric eigendecompositions of the smaller Gram matrix (after a QR for tall
matrices), in the weights' precision; a plain LoRA update's singular values come from its rank × rank core.
A randomized SVD (torch.svd_lowrank) of W₀ + ΔW was tried and rejected: on a briefly trained SmolLM2 LoRA
(‖ΔW‖/‖W₀‖ ≈ 3e-4) it reported 126 intruders where the exact decomposition finds none, while exact takes
about half a minute for all 210 matrices on one CPU core.
"""

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from adaptlab.schemas.forgetting import DiagnosticsSettings, ModuleTypeDiagnostics, WeightDiagnostics

MODULE_TYPES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DECOMPOSITION = "exact (eigendecomposition of the smaller Gram matrix; QR first for tall matrices)"


@dataclass(frozen=True)
class MatrixDiagnostics:
    relative_update: float
    effective_rank: int
    intruder_dimensions: int


def relative_update_size(base_weight: torch.Tensor, delta: torch.Tensor) -> float:
    norm = float(torch.linalg.matrix_norm(base_weight.double()))
    return float(torch.linalg.matrix_norm(delta.double())) / norm if norm > 0 else float("inf")


def effective_rank(delta: torch.Tensor, energy_fraction: float = 0.9, factors: tuple[torch.Tensor, torch.Tensor] | None = None) -> int:
    """The fewest singular values of `delta` whose squares reach `energy_fraction` of Σσ² (0 for a zero update).

    With `factors` (B, A) where delta = B·A, the singular values come from a rank × rank matrix instead.
    """
    energies = _squared_singular_values(delta, factors).clamp(min=0).sort(descending=True).values
    total = float(energies.sum())
    if total == 0:
        return 0
    covered = energies.cumsum(0) / total
    return int((covered < energy_fraction - 1e-6).sum()) + 1


def left_singular_vectors(weight: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis of W's column space made of its left singular vectors, largest singular value first.

    Wide or square W: eigenvectors of W Wᵀ. Tall W = QR: Q times the eigenvectors of R Rᵀ, which stays
    orthonormal where U = W V Σ⁻¹ would not.
    """
    if weight.shape[0] <= weight.shape[1]:
        return torch.linalg.eigh(weight @ weight.T).eigenvectors.flip(1)
    q, r = torch.linalg.qr(weight)
    return q @ torch.linalg.eigh(r @ r.T).eigenvectors.flip(1)


def intruder_dimensions(base_weight: torch.Tensor, base_vectors: torch.Tensor, delta: torch.Tensor, settings: DiagnosticsSettings) -> int:
    """Top singular vectors of W₀ + ΔW whose largest |cosine| with any of W₀'s (`base_vectors`) is below the threshold."""
    if not bool(delta.any()):
        return 0
    tuned = left_singular_vectors(base_weight + delta.to(base_weight.dtype))[:, : settings.top_k]
    largest_cosine = (base_vectors.T @ tuned).abs().amax(dim=0)
    return int((largest_cosine < settings.cosine_threshold).sum())


def matrix_diagnostics(base_weight: torch.Tensor, delta: torch.Tensor, settings: DiagnosticsSettings,
                       factors: tuple[torch.Tensor, torch.Tensor] | None = None) -> MatrixDiagnostics:
    return MatrixDiagnostics(
        relative_update=relative_update_size(base_weight, delta),
        effective_rank=effective_rank(delta, settings.energy_fraction, factors),
        intruder_dimensions=intruder_dimensions(base_weight, left_singular_vectors(base_weight), delta, settings),
    )


def summarize(per_matrix: dict[str, MatrixDiagnostics]) -> list[ModuleTypeDiagnostics]:
    """Aggregate per-matrix figures over layers, by module type, in MODULE_TYPES order then by name."""
    groups: dict[str, list[MatrixDiagnostics]] = defaultdict(list)
    for name, figures in per_matrix.items():
        groups[name.rsplit(".", 1)[-1]].append(figures)
    order = {kind: index for index, kind in enumerate(MODULE_TYPES)}
    return [
        ModuleTypeDiagnostics(
            module_type=kind,
            matrices=len(rows),
            relative_update_mean=sum(r.relative_update for r in rows) / len(rows),
            relative_update_max=max(r.relative_update for r in rows),
            effective_rank_mean=sum(r.effective_rank for r in rows) / len(rows),
            effective_rank_max=max(r.effective_rank for r in rows),
            intruder_dimensions_mean=sum(r.intruder_dimensions for r in rows) / len(rows),
            intruder_dimensions_total=sum(r.intruder_dimensions for r in rows),
        )
        for kind, rows in sorted(groups.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    ]


def weight_diagnostics(tuned: nn.Module, base: nn.Module | None = None, settings: DiagnosticsSettings | None = None) -> WeightDiagnostics:
    """Diagnostics of a PEFT model's LoRA/DoRA updates, of another PEFT tuner's merged update (IA3, LoHa, LoKr, OFT,
    VeRA) or of a fully fine-tuned model, both against `base`. Prompt/prefix tuning has no weight update to diagnose."""
    settings = settings or DiagnosticsSettings()
    started = time.perf_counter()
    if has_lora_layers(tuned):
        updates = lora_updates(tuned)
    elif hasattr(tuned, "merge_and_unload"):
        updates = full_updates(base, merged_copy(tuned))
    else:
        updates = full_updates(base, tuned)
    per_matrix = {update.name: matrix_diagnostics(update.base_weight, update.delta, settings, update.factors) for update in updates}
    return WeightDiagnostics(
        settings=settings,
        decomposition=DECOMPOSITION,
        seconds=time.perf_counter() - started,
        by_module_type=summarize(per_matrix),
    )


@dataclass(frozen=True)
class WeightUpdate:
    """One adapted matrix: W₀ and ΔW (float32), and ΔW's low-rank factors (B·scaling, A) when it is a plain LoRA update."""

    name: str
    base_weight: torch.Tensor
    delta: torch.Tensor
    factors: tuple[torch.Tensor, torch.Tensor] | None = None


def has_lora_layers(model: nn.Module) -> bool:
    from peft.tuners.lora import LoraLayer

    return any(isinstance(module, LoraLayer) for module in model.modules())


@torch.no_grad()
def lora_updates(peft_model: nn.Module) -> Iterator[WeightUpdate]:
    """Every LoRA layer's active adapter as an update of its base weight (dequantized on a 4-bit base)."""
    from peft.tuners.lora import LoraLayer
    from peft.utils.integrations import dequantize_module_weight

    for name, module in peft_model.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        for adapter in module.active_adapters:
            if adapter not in module.lora_A:
                continue
            base_weight = dequantize_module_weight(module.get_base_layer()).float()
            delta = module.get_delta_weight(adapter).float()
            if module.use_dora.get(adapter):
                yield WeightUpdate(name, base_weight, dora_delta(base_weight, delta, module.lora_magnitude_vector[adapter].weight.float()))
            elif isinstance(module.get_base_layer(), nn.Linear) and not module.fan_in_fan_out:
                factors = (module.lora_B[adapter].weight.float() * module.scaling[adapter], module.lora_A[adapter].weight.float())
                yield WeightUpdate(name, base_weight, delta, factors)
            else:
                yield WeightUpdate(name, base_weight, delta)


def merged_copy(peft_model: nn.Module) -> nn.Module:
    """A copy of the PEFT model with its active adapter folded into the weights, by PEFT's own merge: the
    update of tuners whose delta has no low-rank factors to read (IA3 rescales, OFT rotates, …)."""
    import copy

    return copy.deepcopy(peft_model).merge_and_unload()


def dora_delta(base_weight: torch.Tensor, lora_delta: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """DoRA's merged weight m · (W₀ + sBA) / ‖W₀ + sBA‖ (row norms), minus W₀."""
    direction = base_weight + lora_delta
    return magnitude.view(-1, 1) * direction / torch.linalg.vector_norm(direction, dim=1, keepdim=True) - base_weight


@torch.no_grad()
def full_updates(base: nn.Module | None, tuned: nn.Module) -> Iterator[WeightUpdate]:
    """W_ft − W₀ for every linear layer of a MODULE_TYPES kind."""
    if base is None:
        raise ValueError("diagnostics of a fully fine-tuned model need its base model")
    base_modules = dict(base.named_modules())
    for name, module in tuned.named_modules():
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in MODULE_TYPES:
            base_weight = base_modules[name].weight.detach().float()
            yield WeightUpdate(name, base_weight, module.weight.detach().float() - base_weight)


def _squared_singular_values(matrix: torch.Tensor, factors: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """σ² of `matrix` from the smaller of M Mᵀ and Mᵀ M, or of B·A from the QR factors of B and Aᵀ (rank × rank)."""
    if factors is not None:
        left, right = (factor.double() for factor in factors)
        core = torch.linalg.qr(left).R @ torch.linalg.qr(right.T).R.T
        return torch.linalg.svdvals(core) ** 2
    return torch.linalg.eigvalsh(matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix)
