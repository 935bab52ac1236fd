"""What DPO's reference costs in memory, measured by the loop itself (run.json's training peak, the process's RSS
high-water mark reset before training): full fine-tuning's frozen copy costs about one model, which
`--precompute-reference` saves; an adapter's reference (the base with the adapter off) costs nothing — its peak is
that of a run with no reference model at all (precomputed). On a random Llama of about 80 MB, wide enough for one
copy to stand well above the allocator's noise. Each run is `adaptlab train` in a process of its own: in a test
worker that has run other tests, freed pages the heap keeps resident can absorb the copy and hide it."""

import sys

import pytest

from adaptlab.models.builtin import tiny_tokenizer
from adaptlab.schemas.run_record import read_run_record
from tests.objectives.test_dpo import write_pairs
from tests.train.cli_runs import run

# glibc serves blocks above this size with their own mmap and unmaps them when freed (a fixed threshold: glibc's
# default one rises up to 32 MiB as blocks are freed, so this model's tensors would land in per-thread heaps, whose
# freed pages stay resident in varying amounts); the RSS high-water mark then follows the live tensors.
EXACT_HEAP = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """(folder, bytes of its weights): a 6-layer random Llama of hidden size 512 with the tiny byte tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("wide")
    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=512, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=8,
        num_key_value_heads=8, tie_word_embeddings=True, eos_token_id=len(tokenizer) - 1, pad_token_id=len(tokenizer) - 3,
    ))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, sum(p.numel() * p.element_size() for p in model.parameters())


def training_peak_bytes(tmp_path, model_dir, method: str, precompute: bool) -> int:
    out = tmp_path / f"{method}-{precompute}"
    run([
        sys.executable, "-m", "adaptlab", "train", "--model", str(model_dir), "--method", method, "--objective", "dpo",
        "--precompute-reference" if precompute else "--no-precompute-reference", "--out", str(out),
        "--data", str(write_pairs(tmp_path / "pairs.jsonl", rows=12)), "--max-seq-len", "32", "--micro-batch-size", "4",
        "--max-steps", "1", "--precision", "fp32", "--learning-rate", "1e-4", "--rank", "8", "--alpha", "16", "--dropout", "0.0",
    ], env=EXACT_HEAP)
    return read_run_record(out).metrics.training_peak_memory_bytes


@pytest.mark.slow  # four `adaptlab train` processes (two of them full fine-tuning) of a model big enough for one copy to show: ~40 s
def test_the_reference_costs_a_copy_only_for_full_fine_tuning_and_precomputing_saves_it(tmp_path, wide_model):
    model_dir, model_bytes = wide_model
    peaks = {(method, precompute): training_peak_bytes(tmp_path, model_dir, method, precompute)
             for method, precompute in (("full", False), ("full", True), ("lora", False), ("lora", True))}
    print({f"{method}{' precomputed' if precompute else ''}": f"{peak / 2**20:.0f} MiB" for (method, precompute), peak in peaks.items()},
          f"model {model_bytes / 2**20:.0f} MiB")
    assert peaks["full", False] - peaks["full", True] > 0.6 * model_bytes, peaks  # the frozen copy
    assert abs(peaks["lora", False] - peaks["lora", True]) < 0.5 * model_bytes, peaks  # no second copy of the base
    assert peaks["lora", False] < peaks["full", True] - model_bytes, peaks  # nor gradients and optimizer state for it
