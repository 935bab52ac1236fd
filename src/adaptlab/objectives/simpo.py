"""SimPO (Meng et al. 2024), the reference-free preference objective: the reward of a response is β × its average
response-token log-probability under the model itself, and the loss pushes the chosen reward at least γ above the
rejected one:

    loss = −log σ(β · (mean log π(chosen) − mean log π(rejected)) − γ)

No reference model is held or run, for any method, so its memory is SFT's (DPO's full fine-tuning holds a frozen
copy). Chosen over ORPO (Hong et al. 2024) because it is the same pairwise margin as DPO with the reference taken
out, so the two compare figure for figure (preference accuracy and mean margin mean the same), and its paper reports
it ahead of ORPO on AlpacaEval 2 and Arena-Hard. TRL's `CPOTrainer` with loss_type "simpo" and cpo_alpha 0 computes
the same loss (tests/objectives compare the two)."""

from torch import nn

from adaptlab.objectives.preference import (
    PairwisePreference,
    PreferenceLoss,
    response_log_probs,
    response_tokens,
)
from adaptlab.schemas.train_config import TrainConfig


class SimpoLoss(PreferenceLoss):
    def __init__(self, model: nn.Module, beta: float, gamma: float):
        super().__init__(model)
        self.beta = beta
        self.target_margin = gamma

    def margins(self, input_ids, attention_mask, labels, pair_index):
        rewards = response_log_probs(self.model, input_ids, attention_mask, labels) / response_tokens(labels).clamp(min=1)
        pairs = len(rewards) // 2
        return self.beta * (rewards[:pairs] - rewards[pairs:])


class Simpo(PairwisePreference):
    name = "simpo"
    default_beta = 2.0  # with --simpo-gamma 1.0 (γ/β = 0.5): within the settings SimPO's published configurations use

    def loss_module(self, model, method, config: TrainConfig, data, plan) -> SimpoLoss:
        return SimpoLoss(model, config.beta, config.simpo_gamma)
