"""Supervised fine-tuning of a causal LM: next-token cross-entropy on the response tokens."""

import torch

from adaptlab.data import PreparedData, prepare_data
from adaptlab.eval.loss import evaluate_loss
from adaptlab.objectives.base import TrainingObjective
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.batching import BatchPlan
from adaptlab.train.loss import TargetTokenLoss


class CausalLmSft(TrainingObjective):
    name = "sft"
    task = "causal_lm"

    def prepare_data(self, config: TrainConfig, tokenizer) -> PreparedData:
        return prepare_data(config.data, config.eval_data, tokenizer, config)

    def batch_plan(self, config: TrainConfig, world_size: int, pad_token_id: int) -> BatchPlan:
        return BatchPlan(
            micro_batch_size=config.micro_batch_size,
            grad_accum=config.grad_accum,
            world_size=world_size,
            packing=config.packing,
            max_seq_len=config.max_seq_len,
            pad_token_id=pad_token_id,
            group_by_length=config.group_by_length,
        )

    def loss_module(self, model, method, config: TrainConfig, data, plan) -> TargetTokenLoss:
        return TargetTokenLoss(model)

    def evaluate(self, loss_module, data: PreparedData, plan: BatchPlan, config: TrainConfig) -> dict:
        autocast = torch.bfloat16 if config.precision == "bf16" else None
        result = evaluate_loss(loss_module, data.eval, plan.pad_token_id, batch_size=config.micro_batch_size, autocast_dtype=autocast)
        return {"loss": result.loss, "perplexity": result.perplexity}
