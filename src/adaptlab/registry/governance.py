"""Governance: promotion gates, approvals, aliases that move only when the gates pass, rollback, and
the alias history. Refusals are audited like changes."""

from sqlalchemy.orm import Session

from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.entities import AliasChange, AliasEvent, VersionRecord
from adaptlab.registry.errors import AccessDeniedError, GateRefusedError, RegistryError
from adaptlab.registry.gates import GatePolicy, failed_gates
from adaptlab.registry.lineage import Lineage, missing_data_check_reasons
from adaptlab.registry.refs import check_alias, parse_model_ref, parse_version_ref
from adaptlab.registry.reviews import candidate_review_results
from adaptlab.registry.store import RegistryStore, acting, explicit, model_row, model_row_or_new, now, version_row
from adaptlab.registry.tables import AliasAssignment, AliasCanary, Approval, ModelVersion, RegisteredModel


def promotion_failures(session: Session, row: ModelVersion, alias: str) -> list[str]:
    """Each gate `row` fails for `alias` (a promotion's, and a canary candidate's), in words."""
    policy = row.model.gate_policy
    if not policy.guards(alias):
        return []
    approvers = [approval.approver for approval in row.approvals]
    missing = missing_data_check_reasons(Lineage.model_validate_json(row.lineage_json).data)
    return failed_gates(policy, row.metrics, approvers, row.created_by, candidate_review_results(session, row), missing)


def refuse_during_canary(model: RegisteredModel, model_ref, alias: str) -> None:
    """An alias with a running canary moves only by `canary promote` or `canary abort`."""
    if (canary := model.running_canary(alias)) is not None:
        raise RegistryError(
            f"{model_ref}@{alias} has a canary of v{canary.candidate.version} running; end it first with "
            f"`adaptlab registry canary promote|abort {model_ref} --alias {alias}`"
        )


class Governance(RegistryStore):
    def set_gates(self, principal: Principal, name: str, policy: GatePolicy, *, tenant: str | None = None) -> None:
        """Set the promotion gates of a model name (created, without versions, if it has none yet)."""
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.manage, model_ref.tenant)
        for alias in policy.aliases:
            check_alias(alias)
        with self._writing() as tx:
            model = model_row_or_new(tx.session, model_ref, creator=principal.name)
            before = model.gate_policy.model_dump()
            model.gate_policy_json = policy.model_dump_json()
            tx.audit(principal.name, model_ref.tenant, "gates.set", str(model_ref), before=before, after=policy.model_dump())

    def get_gates(self, principal: Principal, name: str, *, tenant: str | None = None) -> GatePolicy:
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.read, model_ref.tenant)
        with self._reading() as session:
            return model_row(session, model_ref).gate_policy

    def approve(self, principal: Principal, ref: str, note: str, *, tenant: str | None = None, by: str | None = None) -> VersionRecord:
        version_ref = explicit(parse_version_ref(ref, tenant or principal.tenant), "approve")
        require(principal, Action.approve, version_ref.model.tenant)
        approver = acting(principal, by)
        with self._writing() as tx:
            row = version_row(tx.session, version_ref)
            if row.model.gate_policy.approvers_distinct_from_registrant and approver == row.created_by:
                raise AccessDeniedError(
                    f"{approver} registered {row.ref} and may not approve it; the gates of {version_ref.model} require a different approver"
                )
            if any(approval.approver == approver for approval in row.approvals):
                raise RegistryError(f"{row.ref} is already approved by {approver}")
            row.approvals.append(Approval(approver=approver, note=note, created_at=now()))
            tx.audit(approver, version_ref.model.tenant, "version.approve", row.ref, after={"approver": approver, "note": note})
            tx.session.flush()
            return row.to_entity()

    def promote(
        self, principal: Principal, ref: str, alias: str, *, tenant: str | None = None, by: str | None = None, note: str | None = None
    ) -> AliasChange:
        """Point `alias` at the version, if the model's gates allow; a refusal is audited and names each failed gate.
        A `note` (why) is recorded in the audit entry."""
        version_ref = explicit(parse_version_ref(ref, tenant or principal.tenant), "promote")
        check_alias(alias)
        require(principal, Action.promote, version_ref.model.tenant)
        actor = acting(principal, by)
        refusal = None
        with self._writing() as tx:
            row = version_row(tx.session, version_ref)
            model = row.model
            refuse_during_canary(model, version_ref.model, alias)
            current = model.current_aliases().get(alias)
            current_version = current.version.version if current else None
            failures = promotion_failures(tx.session, row, alias)
            changed = not failures and current_version != row.version
            if failures:
                tx.audit(
                    actor,
                    version_ref.model.tenant,
                    "alias.promote_refused",
                    row.ref,
                    before={"alias": alias, "version": current_version},
                    after={"failed_gates": failures},
                )
                refusal = GateRefusedError(f"promotion of {row.ref} to {alias!r} refused: " + "; ".join(failures), failures)
            elif changed:
                tx.session.add(AliasAssignment(model_id=model.id, alias=alias, version=row, assigned_at=now(), assigned_by=actor))
                tx.audit(
                    actor,
                    version_ref.model.tenant,
                    "alias.promote",
                    f"{version_ref.model}@{alias}",
                    before={"version": current_version},
                    after={"version": row.version} | _noted(note),
                )
        if refusal:
            raise refusal
        model_ref = version_ref.model
        return AliasChange(
            tenant=model_ref.tenant, name=model_ref.name, alias=alias, from_version=current_version, to_version=row.version, changed=changed
        )

    def rollback(
        self, principal: Principal, name: str, alias: str, *, tenant: str | None = None, by: str | None = None, note: str | None = None
    ) -> AliasChange:
        """Point `alias` back at the version it pointed at before its current one; a `note` (why) is audited with it."""
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        check_alias(alias)
        require(principal, Action.promote, model_ref.tenant)
        actor = acting(principal, by)
        with self._writing() as tx:
            model = model_row(tx.session, model_ref)
            refuse_during_canary(model, model_ref, alias)
            active = [row for row in model.alias_assignments if row.alias == alias and row.rolled_back_at is None][::-1]
            if len(active) < 2:
                state = f"points at v{active[0].version.version} only" if active else "was never set"
                raise RegistryError(f"{model_ref}@{alias} {state}; there is no earlier version to roll back to")
            current, previous = active[:2]
            current.rolled_back_at, current.rolled_back_by = now(), actor
            from_version, to_version = current.version.version, previous.version.version
            tx.audit(
                actor,
                model_ref.tenant,
                "alias.rollback",
                f"{model_ref}@{alias}",
                before={"version": from_version},
                after={"version": to_version} | _noted(note),
            )
        return AliasChange(
            tenant=model_ref.tenant, name=model_ref.name, alias=alias, from_version=from_version, to_version=to_version, changed=True
        )

    def alias_history(self, principal: Principal, name: str, *, tenant: str | None = None, alias: str | None = None) -> list[AliasEvent]:
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.read, model_ref.tenant)
        with self._reading() as session:
            model = model_row(session, model_ref)
            events = [row.to_entity() for row in model.alias_assignments]
            events += [event for row in model.canaries for event in canary_events(row)]
            # at the same instant, a canary's promotion comes before the promotion row it adds
            events.sort(key=lambda event: (event.assigned_at, event.kind == "promote"))
            return [event for event in events if alias in (None, event.alias)]


CANARY_END_EVENTS = {"promoted": "canary_promote", "aborted": "canary_abort"}


def canary_events(row: AliasCanary) -> list[AliasEvent]:
    """A canary in the alias history: its start (with its share now), and its promotion or abort once it ended."""
    start = AliasEvent(
        alias=row.alias,
        version=row.candidate.version,
        assigned_at=row.started_at,
        assigned_by=row.started_by,
        rolled_back_at=None,
        rolled_back_by=None,
        kind="canary_start",
        share_percent=row.share_percent,
    )
    if row.outcome is None:
        return [start]
    end = start.model_copy(update={"assigned_at": row.ended_at, "assigned_by": row.ended_by, "kind": CANARY_END_EVENTS[row.outcome]})
    return [start, end]


def _noted(note: str | None) -> dict[str, str]:
    """The audited `note` of a promotion or rollback, when one was given (entries without one are unchanged)."""
    return {"note": note} if note else {}
