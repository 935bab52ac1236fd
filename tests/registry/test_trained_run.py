"""End to end with the real training engine: `adaptlab train` on builtin:tiny, then register,
promote, resolve and load the adapter from the registry."""

import hashlib
import json
from pathlib import Path

import pytest

from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.schemas.run_record import read_run_record


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, dataset_files):
    from rich.console import Console

    from adaptlab.schemas.train_config import build_config
    from adaptlab.train.loop import train

    out = tmp_path_factory.mktemp("trained") / "lora1"
    files = {f.role: f.path for f in dataset_files}
    config = build_config(
        None,
        {
            "model": "builtin:tiny",
            "method": "lora",
            "out": out,
            "data": [files["train"]],
            "eval_data": [files["eval"]],
            "max_steps": 2,
            "rank": 4,
        },
    )
    train(config, console=Console(quiet=True))
    (out / "evaluation.json").write_text(json.dumps({"metrics": {"relative_score": 96.0, "forgetting_percent": 1.0}}))
    return out


def test_register_and_serve_a_real_training_run(trained_run, tmp_path, tiny_model):
    import torch
    from peft import PeftModel

    from adaptlab.models import load_causal_lm

    admin = local_admin("ops")
    record_on_disk = read_run_record(trained_run)
    with Registry.open(tmp_path / "registry") as registry:
        registry.create_tenant(admin, "acme")
        registry.set_gates(admin, "acme/bot", GatePolicy(min_metrics={"relative_score": 95}, max_metrics={"forgetting_percent": 5}))
        version = registry.register(admin, trained_run, "acme/bot", by="trainer-1")
        registry.approve(admin, "acme/bot@v1", "loss went down", by="reviewer-1")
        registry.promote(admin, "acme/bot@v1", "production")
        resolved = registry.checkout(admin, "acme/bot@production")

    assert version.lineage.run_id == record_on_disk.run_id
    assert version.base_weights_sha256 == tiny_model.weights_sha256
    assert version.metrics["eval_loss"] == record_on_disk.metrics.eval_loss
    for data_file in version.lineage.data.files:
        assert data_file.sha256 == hashlib.sha256(Path(data_file.path).read_bytes()).hexdigest()
    assert {f.path for f in version.files} >= {*record_on_disk.artifact.files, "run.json", "evaluation.json"}

    model = PeftModel.from_pretrained(load_causal_lm(tiny_model.path), resolved.local_path)
    tokens = torch.tensor([[1, 2, 3, 4]])
    assert torch.isfinite(model(input_ids=tokens).logits).all()
