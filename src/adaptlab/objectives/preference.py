"""What every pairwise preference objective shares (DPO, SimPO): `{prompt|messages, chosen, rejected}` pairs batched
chosen rows first, then rejected rows; a loss −log σ(margin − target margin) per pair, where the margin is β × how
far the model's reward of the chosen response is above the rejected one's; and the held-out figures of that
margin: preference accuracy (the chosen reward above the rejected) and mean margin, each with its interval."""

from abc import abstractmethod
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from adaptlab.data import IGNORE_INDEX, PreparedData, pad_batch
from adaptlab.data.preference import PreferencePair, prepare_preference_data
from adaptlab.objectives.base import TrainingObjective, collated_batches
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


def response_tokens(labels) -> torch.Tensor:
    """Each row's number of labelled (response) tokens, the ones `response_log_probs` sums over."""
    return (labels[:, 1:] != IGNORE_INDEX).sum(-1)


def preference_losses(margins: torch.Tensor, target_margin: float) -> torch.Tensor:
    """Each pair's −log σ(margin − target margin)."""
    return -F.logsigmoid(margins - target_margin)


class PreferenceLoss(nn.Module):
    """forward(**micro_batch.tensors): the summed loss of the micro-batch's pairs."""

    target_margin: float = 0.0  # γ: how far above the rejected reward the chosen one is pushed (0: just above)

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @abstractmethod
    def margins(self, input_ids, attention_mask, labels, pair_index) -> torch.Tensor:
        """β × (reward of the chosen response − reward of the rejected one), per pair."""

    def forward(self, input_ids, attention_mask, labels, pair_index) -> torch.Tensor:
        return preference_losses(self.margins(input_ids, attention_mask, labels, pair_index), self.target_margin).sum()


class PairwisePreference(TrainingObjective):
    task = "causal_lm"
    held_out_metrics = ("preference_accuracy", "mean_margin")
    default_beta: ClassVar[float]  # --beta when not given

    def prepare_data(self, config: TrainConfig, tokenizer) -> PreparedData:
        return prepare_preference_data(config.data, config.eval_data, tokenizer, config)

    def resolved_config(self, config: TrainConfig, data: PreparedData) -> TrainConfig:
        return config if config.beta is not None else config.model_copy(update={"beta": self.default_beta})

    def batch_plan(self, config: TrainConfig, world_size: int, pad_token_id: int) -> BatchPlan:
        return BatchPlan(
            config.micro_batch_size, config.grad_accum, world_size, False, config.max_seq_len, pad_token_id, pair_collator(pad_token_id),
            config.group_by_length,
        )

    @torch.no_grad()
    def evaluate(self, loss_module: PreferenceLoss, data: PreparedData, plan: BatchPlan, config: TrainConfig) -> dict:
        was_training = loss_module.training
        loss_module.eval()
        device = next(loss_module.parameters()).device
        margins: list[float] = []
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):  # as in training
            for batch in collated_batches(data.eval, plan, config.micro_batch_size, device):
                margins += loss_module.margins(**batch).tolist()
        loss_module.train(was_training)
        margin_tensor = torch.tensor(margins)
        wins = int((margin_tensor > 0).sum())
        figures = {"preference_accuracy": wins / max(len(margins), 1), "mean_margin": float(margin_tensor.mean())}
        for name, interval in (("preference_accuracy", proportion_interval(wins, len(margins))), ("mean_margin", mean_interval(margins))):
            if interval is not None:
                figures |= {f"{name}_low": interval.low, f"{name}_high": interval.high}
        return {"loss": float(preference_losses(margin_tensor, loss_module.target_margin).mean()), "metrics": figures}


def pair_collator(pad_token_id: int):
    """Pairs → one micro-batch: the chosen rows, then the rejected rows, and each pair's number (`pair_index`)."""

    def collate(pairs: list[PreferencePair]) -> MicroBatch:
        rows = [pair.chosen for pair in pairs] + [pair.rejected for pair in pairs]
        tensors = pad_batch(rows, pad_token_id) | {"pair_index": torch.tensor([pair.index for pair in pairs], dtype=torch.long)}
        return MicroBatch(tensors, tokens=sum(map(len, rows)), target_tokens=len(pairs))

    return collate
