"""The stored audit log: events from other components, entries as a tenant may see them, and
verification of the whole chain (the chain's pure functions are in audit.py; writes append in store.py)."""

from typing import Any

from sqlalchemy import select

from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.audit import first_break
from adaptlab.registry.entities import AuditEntry, AuditVerification
from adaptlab.registry.store import RegistryStore
from adaptlab.registry.tables import AuditHead, AuditRow


class AuditLog(RegistryStore):
    def audit_event(
        self, principal: Principal, action: str, target: str, *, before: Any = None, after: Any = None, tenant: str | None = None
    ) -> None:
        """Append an event from another component (e.g. the server loading a version) to the audit log."""
        tenant = tenant or principal.tenant
        require(principal, Action.read, tenant)
        with self._writing() as tx:
            tx.audit(principal.name, tenant, action, target, before=before, after=after)

    def audit_entries(self, principal: Principal, *, tenant: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Newest last; a tenant's principals see only their tenant's entries."""
        tenant = tenant or principal.tenant
        require(principal, Action.read, tenant)
        with self._reading() as session:
            query = select(AuditRow).order_by(AuditRow.seq.desc())
            if tenant:
                query = query.where(AuditRow.tenant == tenant)
            if limit:
                query = query.limit(limit)
            return [row.to_entity() for row in reversed(session.scalars(query).all())]

    def verify_audit(self, principal: Principal) -> AuditVerification:
        """Recompute the whole chain; names the first edited, deleted or reordered entry."""
        require(principal, Action.manage, principal.tenant)
        with self._reading() as session:
            head = session.get(AuditHead, 1)
            entries = [row.to_chain_entry() for row in session.scalars(select(AuditRow).order_by(AuditRow.seq))]
            bad_seq, problem = first_break(entries, head.seq, head.hash)
        return AuditVerification(ok=bad_seq is None, entries_checked=len(entries), first_bad_seq=bad_seq, problem=problem)
