"""Same seed and config reproduce the same loss curve, bit for bit, on CPU."""

from rich.console import Console

from adaptlab.train.loop import train
from tests.train.helpers import tiny_config

QUIET = Console(quiet=True)


def test_same_seed_same_loss_curve_bit_for_bit(tmp_path):
    first = train(tiny_config(tmp_path, "lora", out=tmp_path / "a", dropout=0.1), console=QUIET)
    second = train(tiny_config(tmp_path, "lora", out=tmp_path / "b", dropout=0.1), console=QUIET)
    assert [p.loss for p in first.record.loss_curve] == [p.loss for p in second.record.loss_curve]
    assert (tmp_path / "a" / "adapter_model.safetensors").read_bytes() == (tmp_path / "b" / "adapter_model.safetensors").read_bytes()


def test_different_seed_different_curve(tmp_path):
    first = train(tiny_config(tmp_path, "lora", out=tmp_path / "a", dropout=0.1), console=QUIET)
    second = train(tiny_config(tmp_path, "lora", out=tmp_path / "b", dropout=0.1, seed=1), console=QUIET)
    assert [p.loss for p in first.record.loss_curve] != [p.loss for p in second.record.loss_curve]
