"""A registry for monitoring tests: tenants acme and globex, and acme versions of a LoRA adapter (for builtin:tiny)
"trained" (a run.json) on chat data whose user turns are given prompts, registered with or without a drift
reference profile, approved and promoted to `production`."""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from adaptlab.models import ResolvedModel
from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.schemas.run_record import DataFileInfo
from tests.registry.runs import make_run, save_lora_adapter


@dataclass(frozen=True)
class MonitoringWorld:
    registry_root: Path
    acme_token: str
    globex_token: str


def write_chat_prompts(path: Path, prompts: list[str]) -> DataFileInfo:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "..."}]} for prompt in prompts]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return DataFileInfo(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest(), rows=len(rows), bad_rows=0, role="train")


def build_world(
    root: Path,
    base: ResolvedModel,
    versions: dict[str, tuple[list[str], int]],
    make_adapter: Callable[[ResolvedModel, Path, int], Path] = save_lora_adapter,
) -> MonitoringWorld:
    """`versions`: acme model name -> (its training prompts, prompts to embed into its profile; 0 for none);
    every version stores the same adapter, `make_adapter(base, folder, seed)`."""
    admin = local_admin("ops-admin")
    with Registry.open(root / "registry") as registry:
        for tenant in ("acme", "globex"):
            registry.create_tenant(admin, tenant)
        adapter = make_adapter(base, root / "adapter", 3)
        for name, (prompts, profile_prompts) in versions.items():
            registry.set_gates(admin, f"acme/{name}", GatePolicy(required_approvals=0))
            data = write_chat_prompts(root / "data" / name / "train.jsonl", prompts)
            run = make_run(adapter, base, [data], root / "runs" / name)
            record = registry.register(admin, run, f"acme/{name}", profile_prompts=profile_prompts)
            registry.approve(local_admin("reviewer"), record.ref, "fixture")
            registry.promote(admin, record.ref, "production")
        acme_token = registry.create_token(admin, "acme", "reader", "acme-app")
        globex_token = registry.create_token(admin, "globex", "reader", "globex-app")
    return MonitoringWorld(root / "registry", acme_token, globex_token)
