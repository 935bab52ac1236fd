"""The demo's results in a registry, so `adaptlab ui` can show them: each adapter run of the comparison
becomes a version (lineage and evaluation.json figures with their intervals), the comparison's report is
attached to each, and a tenant admin token is made for signing in. Whole fine-tuned models are left out:
they would copy the base model's size into the demo's blob store, and the report already shows them."""

from dataclasses import dataclass
from pathlib import Path

from adaptlab.compare.schema import Comparison
from adaptlab.methods import get_method
from adaptlab.registry import Registry, local_admin

DEMO_TENANT = "demo"
DEMO_MODEL = "house-style"
DEMO_REGISTRY_DIR = "registry"


@dataclass(frozen=True)
class DemoRegistry:
    folder: Path
    refs: list[str]
    token: str  # a new admin token of the demo tenant, shown once

    @property
    def console_command(self) -> str:
        return f"adaptlab ui --registry {self.folder}"


def publish_demo(out: Path, comparison: Comparison) -> DemoRegistry:
    """Register the comparison's adapter runs under `out/registry` (a re-run adds new versions) and attach its report."""
    folder = Path(out) / DEMO_REGISTRY_DIR
    admin = local_admin("adaptlab-demo")
    with Registry.open(folder) as registry:
        if DEMO_TENANT not in registry.list_tenants(admin):
            registry.create_tenant(admin, DEMO_TENANT)
        refs = []
        for result in comparison.methods:
            if get_method(result.method).shares_base:
                record = registry.register(admin, Path(out) / result.run_dir, DEMO_MODEL, tenant=DEMO_TENANT)
                registry.attach_report(admin, record.ref, Path(out))
                refs.append(record.ref)
        token_name = f"demo-admin-{len(registry.list_tokens(admin, DEMO_TENANT)) + 1}"
        token = registry.create_token(admin, DEMO_TENANT, "admin", token_name)
    return DemoRegistry(folder=folder, refs=refs, token=token)
