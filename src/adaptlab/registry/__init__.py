"""The governed registry: immutable versions with lineage, approvals, gated aliases with rollback,
a hash-chained audit log, tenants and scoped tokens, human review sets. Documented in docs/registry.md.

`from adaptlab.registry import Registry, Principal, local_admin, ...` — the names below are imported
on first use, so `adaptlab --help` does not pay for SQLAlchemy."""

import importlib

_EXPORTS = {
    "Registry": "adaptlab.registry.service",
    "Principal": "adaptlab.registry.access",
    "Role": "adaptlab.registry.access",
    "local_admin": "adaptlab.registry.access",
    "GatePolicy": "adaptlab.registry.gates",
    "Lineage": "adaptlab.registry.lineage",
    "VersionRecord": "adaptlab.registry.entities",
    "ModelSummary": "adaptlab.registry.entities",
    "AliasChange": "adaptlab.registry.entities",
    "AuditEntry": "adaptlab.registry.entities",
    "AuditVerification": "adaptlab.registry.entities",
    "TokenRecord": "adaptlab.registry.entities",
    "ReviewSetRecord": "adaptlab.registry.entities",
    "ReviewProgress": "adaptlab.registry.entities",
    "ReviewQueue": "adaptlab.registry.entities",
    "ReviewItemView": "adaptlab.registry.entities",
    "VoteReceipt": "adaptlab.registry.entities",
    "ReviewResults": "adaptlab.schemas.review",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'adaptlab.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
