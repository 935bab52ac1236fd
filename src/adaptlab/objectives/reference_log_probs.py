"""`--precompute-reference`: the reference's log-probabilities of every pair (training and held-out), computed in one
pass of the untrained model before training and kept in the run folder as a (pairs × 2: chosen, rejected) float32
`.npy` file that training reads through a memory map, so neither a frozen copy of the model nor the whole table is
held in memory. Written by staging and rename, its JSON companion last; a resumed run reuses the file when the
companion names the same data and precision, and otherwise recomputes it (the loss module is built before a resume
loads its checkpoint, so the model here is always the untrained base)."""

import json
from contextlib import contextmanager, nullcontext
from pathlib import Path

import numpy as np
import torch

from adaptlab import atomic
from adaptlab.data import PreparedData
from adaptlab.objectives.base import collated_batches
from adaptlab.objectives.preference import response_log_probs
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.batching import BatchPlan

REFERENCE_FILE = "reference_log_probs.npy"
REFERENCE_INFO_FILE = "reference_log_probs.json"


@contextmanager
def adapter_off(model, shares_base: bool):
    """The base itself: an adapter method's model with its adapter disabled; any other model as it is."""
    with model.disable_adapter() if shares_base else nullcontext():
        yield


def precompute_reference_log_probs(model, shares_base: bool, data: PreparedData, plan: BatchPlan, config: TrainConfig) -> np.ndarray:
    """The table (pair number → chosen, rejected log-probabilities of the base), memory-mapped from the run folder."""
    run_dir = Path(config.out)
    pairs = data.train + data.eval
    info = {"tokenized_sha256": data.info.tokenized_sha256, "pairs": len(pairs), "precision": config.precision}
    if (run_dir / REFERENCE_INFO_FILE).is_file() and json.loads((run_dir / REFERENCE_INFO_FILE).read_text()) == info:
        return np.load(run_dir / REFERENCE_FILE, mmap_mode="r")
    staged = atomic.make_staging_dir(run_dir)
    table = np.lib.format.open_memmap(staged / REFERENCE_FILE, mode="w+", dtype=np.float32, shape=(len(pairs), 2))
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")  # as in training
    with torch.no_grad(), adapter_off(model, shares_base), autocast:
        for batch in collated_batches(pairs, plan, config.micro_batch_size, device):
            log_probs = response_log_probs(model, batch["input_ids"], batch["attention_mask"], batch["labels"]).cpu().numpy()
            table[batch["pair_index"].cpu().numpy()] = log_probs.reshape(2, -1).T
    model.train(was_training)
    table.flush()
    del table
    atomic.write_json(staged / REFERENCE_INFO_FILE, info)
    atomic.publish_files(staged, run_dir, last=(REFERENCE_INFO_FILE,))
    return np.load(run_dir / REFERENCE_FILE, mmap_mode="r")
