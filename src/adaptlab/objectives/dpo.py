"""Direct preference optimisation (sigmoid DPO, Rafailov et al. 2023): raise the policy's log-ratio to the reference
on the chosen response above the one on the rejected response.

    loss = −log σ(β · ((log π(chosen) − log π_ref(chosen)) − (log π(rejected) − log π_ref(rejected))))

over response tokens only (TRL's `DPOTrainer` with loss_type "sigmoid" and no label smoothing). The reference is the
base: for a method that shares the base (an adapter) the same model with the adapter switched off, so no second copy
is held; for full fine-tuning a frozen copy made before training (and before a resume loads a checkpoint)."""

import copy
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from adaptlab.data import IGNORE_INDEX, PreparedData, pad_batch
from adaptlab.data.preference import PreferencePair, prepare_preference_data
from adaptlab.objectives.base import TrainingObjective
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.stats.two_groups import mean_interval, proportion_interval
from adaptlab.train.batching import BatchPlan, MicroBatch


def response_log_probs(model: nn.Module, input_ids, attention_mask, labels) -> torch.Tensor:
    """Each row's summed log-probability of its labelled (response) tokens."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[:, :-1].float()
    targets = labels[:, 1:]
    carries = targets != IGNORE_INDEX
    token_log_probs = logits.log_softmax(-1).gather(2, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (token_log_probs * carries).sum(-1)


def dpo_margins(policy_chosen, policy_rejected, reference_chosen, reference_rejected, beta: float) -> torch.Tensor:
    """β × the difference of the chosen and rejected log-ratios: DPO's implicit reward margin per pair."""
    return beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))


class DpoLoss(nn.Module):
    """forward(**micro_batch.tensors): the summed DPO loss of the pairs (chosen rows first, then rejected rows)."""

    def __init__(self, model: nn.Module, beta: float, reference: nn.Module | None):
        super().__init__()
        self.model = model
        self.beta = beta
        self.reference = reference  # None: the model itself with its adapter disabled
        if reference is not None:
            reference.requires_grad_(False).eval()

    def margins(self, input_ids, attention_mask, labels) -> torch.Tensor:
        policy = response_log_probs(self.model, input_ids, attention_mask, labels)
        with torch.no_grad(), self.model.disable_adapter() if self.reference is None else nullcontext():
            reference = response_log_probs(self.reference or self.model, input_ids, attention_mask, labels)
        pairs = len(policy) // 2
        return dpo_margins(policy[:pairs], policy[pairs:], reference[:pairs], reference[pairs:], self.beta)

    def forward(self, input_ids, attention_mask, labels) -> torch.Tensor:
        return -F.logsigmoid(self.margins(input_ids, attention_mask, labels)).sum()


class Dpo(TrainingObjective):
    name = "dpo"
    task = "causal_lm"
    held_out_metrics = ("preference_accuracy", "mean_margin")

    def prepare_data(self, config: TrainConfig, tokenizer) -> PreparedData:
        return prepare_preference_data(config.data, config.eval_data, tokenizer, config)

    def batch_plan(self, config: TrainConfig, world_size: int, pad_token_id: int) -> BatchPlan:
        def collate(pairs: list[PreferencePair]) -> MicroBatch:
            rows = [pair.chosen for pair in pairs] + [pair.rejected for pair in pairs]
            return MicroBatch(pad_batch(rows, pad_token_id), tokens=sum(map(len, rows)), target_tokens=len(pairs))

        return BatchPlan(config.micro_batch_size, config.grad_accum, world_size, False, config.max_seq_len, pad_token_id, collate)

    def loss_module(self, model, method, config: TrainConfig) -> DpoLoss:
        return DpoLoss(model, config.beta, None if method.shares_base else copy.deepcopy(model))

    @torch.no_grad()
    def evaluate(self, loss_module: DpoLoss, data: PreparedData, plan: BatchPlan, config: TrainConfig) -> dict:
        was_training = loss_module.training
        loss_module.eval()
        device = next(loss_module.parameters()).device
        margins: list[float] = []
        for start in range(0, len(data.eval), config.micro_batch_size):
            batch = {k: v.to(device) for k, v in plan.collate(data.eval[start : start + config.micro_batch_size]).tensors.items()}
            margins += loss_module.margins(**batch).tolist()
        loss_module.train(was_training)
        margin_tensor = torch.tensor(margins)
        wins = int((margin_tensor > 0).sum())
        figures = {"preference_accuracy": wins / max(len(margins), 1), "mean_margin": float(margin_tensor.mean())}
        for name, interval in (("preference_accuracy", proportion_interval(wins, len(margins))), ("mean_margin", mean_interval(margins))):
            if interval is not None:
                figures |= {f"{name}_low": interval.low, f"{name}_high": interval.high}
        return {"loss": float(-F.logsigmoid(margin_tensor).mean()), "metrics": figures}
