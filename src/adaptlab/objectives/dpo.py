"""Direct preference optimisation (sigmoid DPO, Rafailov et al. 2023): raise the policy's log-ratio to the reference
on the chosen response above the one on the rejected response.

    loss = −log σ(β · ((log π(chosen) − log π_ref(chosen)) − (log π(rejected) − log π_ref(rejected))))

over response tokens only (TRL's `DPOTrainer` with loss_type "sigmoid" and no label smoothing; tests/objectives
compare the two). The reference is the base: for a method that shares the base (an adapter) the same model with the
adapter switched off, so no second copy is held; for full fine-tuning a frozen copy made before training (and before
a resume loads a checkpoint); with `--precompute-reference`, for either, the base's log-probabilities of every pair
computed in one pass before training and read from a file in the run folder (no copy, no reference forward per step)."""

import copy

import numpy as np
import torch
from torch import nn

from adaptlab.objectives.preference import (
    PairwisePreference,
    PreferenceLoss,
    response_log_probs,
)
from adaptlab.objectives.reference_log_probs import (
    adapter_off,
    precompute_reference_log_probs,
)
from adaptlab.schemas.train_config import TrainConfig


def dpo_margins(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float) -> torch.Tensor:
    """β × the difference of the chosen and rejected log-ratios: DPO's implicit reward margin per pair."""
    return beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))


class DpoLoss(PreferenceLoss):
    """The reference is `reference` (a frozen copy), else `precomputed` (pair number → chosen and rejected reference
    log-probabilities), else the model itself with its adapter disabled."""

    def __init__(self, model: nn.Module, beta: float, reference: nn.Module | None = None, precomputed: np.ndarray | None = None):
        super().__init__(model)
        self.beta = beta
        self.reference = reference
        self.precomputed = precomputed
        if reference is not None:
            reference.requires_grad_(False).eval()

    def margins(self, input_ids, attention_mask, labels, pair_index) -> torch.Tensor:
        policy = response_log_probs(self.model, input_ids, attention_mask, labels)
        reference = self.reference_log_probs(input_ids, attention_mask, labels, pair_index).to(policy)
        pairs = len(policy) // 2
        return dpo_margins(policy[:pairs], policy[pairs:], reference[:pairs], reference[pairs:], self.beta)

    def reference_log_probs(self, input_ids, attention_mask, labels, pair_index) -> torch.Tensor:
        """The rows' reference log-probabilities, chosen rows first (as the batch holds them)."""
        if self.precomputed is not None:
            chosen_and_rejected = torch.from_numpy(np.asarray(self.precomputed[pair_index.cpu().numpy()]))
            return torch.cat([chosen_and_rejected[:, 0], chosen_and_rejected[:, 1]])
        with torch.no_grad(), adapter_off(self.model, self.reference is None):
            return response_log_probs(self.reference or self.model, input_ids, attention_mask, labels)


class Dpo(PairwisePreference):
    name = "dpo"
    default_beta = 0.1  # Rafailov et al. 2023; TRL's default

    def loss_module(self, model, method, config: TrainConfig, data, plan) -> DpoLoss:
        if config.precompute_reference:
            return DpoLoss(model, config.beta, precomputed=precompute_reference_log_probs(model, method.shares_base, data, plan, config))
        return DpoLoss(model, config.beta, reference=None if method.shares_base else copy.deepcopy(model))
