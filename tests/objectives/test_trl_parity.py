"""Our preference losses against TRL's own code on the same tiny model and batch: DPO against `DPOTrainer`
(loss_type "sigmoid"), SimPO against `CPOTrainer` (loss_type "simpo", cpo_alpha 0). TRL batches and computes its
loss; ours takes TRL's batch. The policy is the tiny model with seeded noise added, the reference the model itself."""

import pytest
import torch

from adaptlab.data import IGNORE_INDEX
from adaptlab.models import load_causal_lm, load_tokenizer, resolve_model
from adaptlab.objectives.dpo import DpoLoss
from adaptlab.objectives.simpo import SimpoLoss

trl = pytest.importorskip("trl", reason="TRL is a test-only dependency (the dev extra)")
datasets = pytest.importorskip("datasets")

ROWS = [
    {"prompt": "echo abcd:", "chosen": " abcd", "rejected": " no"},
    {"prompt": "echo efgh:", "chosen": " efgh", "rejected": " nothing at all"},
    {"prompt": "say hi:", "chosen": " hi there", "rejected": " bye"},
    {"prompt": "count:", "chosen": " one two three", "rejected": " four"},
]


@pytest.fixture()
def models():
    """(policy, reference): the reference is the tiny model, the policy the same with seeded noise on every weight."""
    path = resolve_model("builtin:tiny").path
    reference, policy = load_causal_lm(path), load_causal_lm(path)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in policy.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    return policy, reference, load_tokenizer(path)


def trainer_args(config_class, tmp_path, **options):
    return config_class(
        output_dir=str(tmp_path), per_device_train_batch_size=len(ROWS), use_cpu=True, bf16=False, fp16=False,
        gradient_checkpointing=False, report_to="none", **options,
    )


def test_dpo_loss_equals_trl_dpo_trainer(models, tmp_path):
    policy, reference, tokenizer = models
    trainer = trl.DPOTrainer(
        model=policy, ref_model=reference, args=trainer_args(trl.DPOConfig, tmp_path, beta=0.1, loss_type=["sigmoid"]),
        train_dataset=datasets.Dataset.from_list(ROWS), processing_class=tokenizer,
    )
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(trainer.model, batch))
        labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, IGNORE_INDEX)
        ours = DpoLoss(policy, 0.1, reference=reference)(batch["input_ids"], batch["attention_mask"], labels, torch.arange(len(ROWS)))
    assert trl_loss != pytest.approx(0.6931, abs=1e-3)  # the policy is not its reference: the margins are not zero
    assert float(ours) / len(ROWS) == pytest.approx(trl_loss, abs=1e-5)


def test_simpo_loss_equals_trl_cpo_trainer_simpo(models, tmp_path):
    from trl.experimental.cpo import CPOConfig, CPOTrainer

    policy, _, tokenizer = models
    args = trainer_args(CPOConfig, tmp_path, beta=2.0, simpo_gamma=1.0, loss_type="simpo", cpo_alpha=0.0, max_length=64)
    trainer = CPOTrainer(model=policy, args=args, train_dataset=datasets.Dataset.from_list(ROWS), processing_class=tokenizer)
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        trl_loss = float(trainer.compute_loss(trainer.model, batch))
        inputs = trainer.concatenated_inputs(batch, padding_value=trainer.pad_token_id)
        ours = SimpoLoss(policy, 2.0, 1.0)(
            inputs["concatenated_input_ids"], inputs["concatenated_attention_mask"], inputs["concatenated_labels"], torch.arange(len(ROWS))
        )
    assert float(ours) / len(ROWS) == pytest.approx(trl_loss, abs=1e-5)
