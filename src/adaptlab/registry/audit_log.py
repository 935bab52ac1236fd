"""The stored audit log: events from other components, entries as a tenant may see them, and
verification of the whole chain (the chain's pure functions are in audit.py; writes append in store.py)."""

from typing import Any

from sqlalchemy import func, or_, select

from adaptlab.errors import ConfigError
from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.audit import first_break
from adaptlab.registry.entities import AuditEntry, AuditPage, AuditVerification
from adaptlab.registry.replay import REPLAYED_ACTIONS, differences, replayed_facts
from adaptlab.registry.state import current_facts
from adaptlab.registry.store import RegistryStore
from adaptlab.registry.tables import AuditHead, AuditRow


class AuditLog(RegistryStore):
    def audit_event(
        self, principal: Principal, action: str, target: str, *, before: Any = None, after: Any = None, tenant: str | None = None
    ) -> None:
        """Append an event from another component (e.g. the server loading a version) to the audit log;
        a denial (`*.denied`) repeating one of the last minute only counts on that entry."""
        if action in REPLAYED_ACTIONS:
            raise ConfigError(f"audit action {action!r} is the registry's own; other components record their own actions")
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

    def audit_page(
        self,
        principal: Principal,
        *,
        actor: str | None = None,
        action: str | None = None,
        model: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> AuditPage:
        """Entries of the principal's tenant (all, for the local administrator), newest first, filtered by
        actor, action and model (`tenant/name`: its versions, aliases and gates), one page at a time."""
        require(principal, Action.read, principal.tenant)
        filters = [AuditRow.tenant == principal.tenant] if principal.tenant else []
        filters += [AuditRow.actor == actor] if actor else []
        filters += [AuditRow.action == action] if action else []
        if model:
            filters.append(or_(AuditRow.target == model, AuditRow.target.startswith(f"{model}@", autoescape=True)))
        with self._reading() as session:
            total = session.scalar(select(func.count()).select_from(AuditRow).where(*filters))
            rows = session.scalars(select(AuditRow).where(*filters).order_by(AuditRow.seq.desc()).offset(offset).limit(limit))
            return AuditPage(entries=[row.to_entity() for row in rows], total=total, offset=offset, limit=limit)

    def verify_audit(self, principal: Principal) -> AuditVerification:
        """Recompute the whole chain, naming the first edited, deleted or reordered entry; then replay it and
        name every table row (of the principal's tenant) it does not account for, differs from, or lacks."""
        require(principal, Action.manage, principal.tenant)
        with self._reading() as session:
            head = session.get(AuditHead, 1)
            entries = [row.to_chain_entry() for row in session.scalars(select(AuditRow).order_by(AuditRow.seq))]
            bad_seq, problem = first_break(entries, head.seq, head.hash)
            replayed, unaccounted = replayed_facts(entry for entry in entries if principal.tenant in (None, entry.tenant))
            unaccounted += differences(replayed, current_facts(session), tenant=principal.tenant)
        return AuditVerification(
            ok=bad_seq is None and not unaccounted,
            entries_checked=len(entries),
            first_bad_seq=bad_seq,
            problem=problem,
            unaccounted=unaccounted,
        )
