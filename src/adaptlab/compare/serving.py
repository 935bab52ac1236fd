"""The weights a deployment holds to serve N clients: one shared base plus an adapter per client, or a whole
model per client. The hybrid's shared base is its fine-tuned base, not the original one."""

from dataclasses import dataclass

from adaptlab.compare.formatting import format_bytes


@dataclass(frozen=True)
class ServingWeights:
    bytes: int
    formula: str


def serving_weights(tenants: int, artifact_bytes: int, shared_base_bytes: int | None, base_name: str = "base") -> ServingWeights:
    """`shared_base_bytes` None: each client gets its own whole model (the artifact is one)."""
    if shared_base_bytes is None:
        total = tenants * artifact_bytes
        return ServingWeights(total, f"{tenants} × {format_bytes(artifact_bytes)} models = {format_bytes(total)} of weights")
    total = shared_base_bytes + tenants * artifact_bytes
    return ServingWeights(
        total, f"{format_bytes(shared_base_bytes)} {base_name} + {tenants} × {format_bytes(artifact_bytes)} adapters = {format_bytes(total)} of weights"
    )
