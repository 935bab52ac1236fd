"""A real registry with two tenants and LoRA adapters trained-on-paper for builtin:tiny (seeded,
non-zero), tokens for each tenant, and a real server on a loopback port; plus reference outputs
computed by plain PEFT + `model.generate`, one request at a time.

Every version is approved (v1s are also promoted to `production`) except UNAPPROVED_MODEL's, since
the server refuses unapproved versions unless started with `allow_unapproved`."""

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adaptlab.models import ResolvedModel
from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

ADAPTER_SEEDS = {"acme/bot": (11, 12), "acme/helper": (13,), "acme/writer": (14,), "globex/rival": (15,), "acme/draft": (16,)}
HTTP_TIMEOUT_S = 60
BROKEN_MODEL = "acme/misfit"  # registered fine, but its adapter targets modules the base lacks
UNAPPROVED_MODEL = "acme/draft"  # registered, never approved nor promoted
ALIAS_TTL_S = 0.5  # the test servers' `alias_ttl_s`: how long a promotion may take to be served


@dataclass(frozen=True)
class ServeWorld:
    registry_root: Path
    acme_token: str
    globex_token: str
    adapter_dirs: dict[str, Path]  # version ref (tenant/name@vN) -> adapter folder


@pytest.fixture(scope="session")
def world(tiny_model: ResolvedModel, tmp_path_factory) -> ServeWorld:
    root = tmp_path_factory.mktemp("serve")
    data_files = write_dataset(root / "data")
    admin, reviewer = local_admin("ops-admin"), local_admin("reviewer")
    adapter_dirs = {}
    with Registry.open(root / "registry") as registry:
        for tenant in ("acme", "globex"):
            registry.create_tenant(admin, tenant)
        for name, seeds in ADAPTER_SEEDS.items():
            registry.set_gates(admin, name, GatePolicy(required_approvals=0))
            for seed in seeds:
                adapter = save_lora_adapter(tiny_model, root / "adapters" / f"seed{seed}", seed=seed)
                record = registry.register(admin, make_run(adapter, tiny_model, data_files, root / "runs" / f"seed{seed}"), name)
                adapter_dirs[record.ref] = adapter
                if name != UNAPPROVED_MODEL:
                    registry.approve(reviewer, record.ref, "fixture")
            if name != UNAPPROVED_MODEL:
                registry.promote(admin, f"{name}@v1", "production")
        misfit = registry.register(admin, _misfit_run(tiny_model, data_files, root), BROKEN_MODEL)
        registry.approve(reviewer, misfit.ref, "fixture")
        acme_token = registry.create_token(admin, "acme", "reader", "acme-app")
        globex_token = registry.create_token(admin, "globex", "reader", "globex-app")
    return ServeWorld(root / "registry", acme_token, globex_token, adapter_dirs)


def _misfit_run(tiny_model: ResolvedModel, data_files, root: Path) -> Path:
    adapter = save_lora_adapter(tiny_model, root / "adapters" / "misfit", seed=0)
    config_file = adapter / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "target_modules": ["no_such_proj"]}))
    return make_run(adapter, tiny_model, data_files, root / "runs" / "misfit")


def serve_config(world: ServeWorld, **overrides) -> ServeConfig:
    """No drift sampling unless a test asks: its thread reads the registry at random moments, which would show up in
    tests that count the statements a request runs (the drift tests configure their own server)."""
    defaults = {"max_wait_ms": 30, "alias_ttl_s": ALIAS_TTL_S, "drift_sample_rate": 0}
    return ServeConfig(model="builtin:tiny", registry=world.registry_root, port=0, **{**defaults, **overrides})


@pytest.fixture(scope="session")
def server(world: ServeWorld):
    with running_server(serve_config(world)) as running:
        yield running


@pytest.fixture(scope="session")
def acme(server, world: ServeWorld):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=HTTP_TIMEOUT_S) as client:
        yield client


@pytest.fixture(scope="session")
def globex(server, world: ServeWorld):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.globex_token}"}, timeout=HTTP_TIMEOUT_S) as client:
        yield client


@pytest.fixture(scope="session")
def reference(tiny_model: ResolvedModel, world: ServeWorld):
    """`reference(version_ref or None, prompt_ids, max_new_tokens)` -> generated token ids without the stop token,
    from `model.generate` on a fresh model with only that adapter loaded."""
    import torch
    from peft import PeftModel

    from adaptlab.models import load_causal_lm

    def generate(version_ref: str | None, prompt_ids: list[int], max_new_tokens: int) -> list[int]:
        model = load_causal_lm(tiny_model.path)
        if version_ref is not None:
            model = PeftModel.from_pretrained(model, world.adapter_dirs[version_ref])
        model.eval()
        with torch.inference_mode():
            output = model.generate(
                torch.tensor([prompt_ids]),
                attention_mask=torch.ones((1, len(prompt_ids)), dtype=torch.long),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=256,
            )
        new_ids = output[0, len(prompt_ids) :].tolist()
        eos = model.generation_config.eos_token_id
        return new_ids[: new_ids.index(eos)] if eos in new_ids else new_ids

    return generate
