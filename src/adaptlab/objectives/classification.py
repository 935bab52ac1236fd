"""Sequence classification: a head on an encoder or a causal LM, trained with cross-entropy over the labels."""

import torch
import torch.nn.functional as F
from torch import nn

from adaptlab.data import (
    LabelledText,
    PreparedData,
    labelled_batch,
    prepare_classification_data,
)
from adaptlab.eval.classification import (
    ClassificationScores,
    classification_scores,
    majority_baseline,
)
from adaptlab.objectives.base import TEXT_CLASSIFICATION, TrainingObjective, collated_batches
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.batching import BatchPlan, MicroBatch


# Micro-batch widths rounded up to a multiple of 8 (as transformers' DataCollatorWithPadding offers): a few distinct
# shapes instead of one per text length, so the CPU's oneDNN kernels are built once per width, not at most steps
# (MiniLM on SMS spam, 2 cores, bf16: 214 ms a step against 1.2 s with exact widths)
PAD_TO_MULTIPLE_OF = 8


class LabelLoss(nn.Module):
    """Wraps a sequence classifier (plain or PEFT); forward() returns the summed cross-entropy of the rows."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def logits(self, input_ids, attention_mask) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()

    def forward(self, input_ids, attention_mask, labels) -> torch.Tensor:
        return F.cross_entropy(self.logits(input_ids, attention_mask), labels, reduction="sum")


class SequenceClassification(TrainingObjective):
    name = "sft"
    task = "classification"
    held_out_metrics = ("accuracy", "macro_f1")
    pipeline_tag = TEXT_CLASSIFICATION
    # one label per text of a few dozen tokens: BERT-style fine-tuning settings (Devlin et al. 2019: 32 rows of at
    # most 128 tokens), not a causal LM's 4 rows of 1024. Random micro-batches (no --group-by-length): on SMS spam,
    # where spam is longer, grouping cut full fine-tuning's held-out accuracy from 0.939 to 0.882 (docs/training.md)
    default_settings = {"micro_batch_size": 32, "max_seq_len": 128}

    def prepare_data(self, config: TrainConfig, tokenizer) -> PreparedData:
        return prepare_classification_data(config.data, config.eval_data, tokenizer, config, config.labels)

    def resolved_config(self, config: TrainConfig, data: PreparedData) -> TrainConfig:
        return config.model_copy(update={"labels": data.labels})

    def baseline_figures(self, data: PreparedData, config: TrainConfig) -> dict[str, float]:
        """Always answering the most frequent training label."""
        scores = majority_baseline([e.label for e in data.train], [e.label for e in data.eval], seed=config.seed)
        return figures_of(scores)

    def batch_plan(self, config: TrainConfig, world_size: int, pad_token_id: int) -> BatchPlan:
        def collate(rows: list[LabelledText]) -> MicroBatch:
            return MicroBatch(labelled_batch(rows, pad_token_id, PAD_TO_MULTIPLE_OF), tokens=sum(map(len, rows)), target_tokens=len(rows))

        # packing would let texts share a classification: one text per row
        return BatchPlan(
            config.micro_batch_size, config.grad_accum, world_size, False, config.max_seq_len, pad_token_id, collate, config.group_by_length
        )

    def loss_module(self, model, method, config: TrainConfig, data, plan) -> LabelLoss:
        return LabelLoss(model)

    @torch.no_grad()
    def evaluate(self, loss_module: LabelLoss, data: PreparedData, plan: BatchPlan, config: TrainConfig) -> dict:
        was_training = loss_module.training
        loss_module.eval()
        device = next(loss_module.parameters()).device
        total, predicted = 0.0, []
        autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
        order = sorted(range(len(data.eval)), key=lambda index: len(data.eval[index]))  # batched shortest first: little padding
        for batch in collated_batches([data.eval[index] for index in order], plan, config.micro_batch_size, device):
            with autocast:
                logits = loss_module.logits(batch["input_ids"], batch["attention_mask"])
            total += float(F.cross_entropy(logits, batch["labels"], reduction="sum"))
            predicted += logits.argmax(dim=-1).tolist()
        loss_module.train(was_training)
        predictions = [label for _, label in sorted(zip(order, predicted))]  # back in the rows' own order
        scores = classification_scores(predictions, [example.label for example in data.eval], seed=config.seed)
        return {"loss": total / max(len(data.eval), 1), "metrics": figures_of(scores)}


def figures_of(scores: ClassificationScores) -> dict[str, float]:
    """Accuracy and macro-F1 with their interval bounds, as run.json's eval_curve metrics."""
    figures = {"accuracy": scores.accuracy, "macro_f1": scores.macro_f1}
    for name, interval in (("accuracy", scores.accuracy_interval), ("macro_f1", scores.macro_f1_interval)):
        if interval is not None:
            figures |= {f"{name}_low": interval.low, f"{name}_high": interval.high}
    return figures
