"""Canaries on an alias: a candidate version answers a share of the alias's users (picked by a keyed hash,
canary_assignment.py) while the stable version the alias points at answers the rest. `canary promote`
moves the alias to the candidate, `canary abort` leaves it where it was. The candidate passes the same
gates as a promotion (checked at the start and again at promotion); every change and refusal is audited;
the server reads the split with `canary_split`, as it reads an alias."""

from adaptlab.errors import ConfigError
from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.canary_assignment import new_assignment_key
from adaptlab.registry.canary_figures import DEFAULT_GAP, CanaryStatus, canary_report
from adaptlab.registry.entities import AliasChange, CanaryRecord, CanarySplit
from adaptlab.registry.errors import GateRefusedError, NotFoundError, RegistryError
from adaptlab.registry.feedback import arm_samples
from adaptlab.registry.governance import promotion_failures
from adaptlab.registry.refs import ModelRef, check_alias, parse_model_ref, parse_version_ref
from adaptlab.registry.store import AuditWriter, RegistryStore, acting, explicit, find_model, model_row, now, version_row
from adaptlab.registry.tables import AliasAssignment, AliasCanary, ModelVersion, RegisteredModel


def check_share(share_percent: float) -> float:
    if not 0 < share_percent <= 100:
        raise ConfigError(f"--canary {share_percent:g}: the candidate's share of traffic is a percentage above 0 and at most 100")
    return float(share_percent)


class Canaries(RegistryStore):
    def start_canary(
        self, principal: Principal, ref: str, alias: str, share_percent: float, *, tenant: str | None = None, by: str | None = None
    ) -> CanaryRecord:
        """Send `share_percent` % of `alias`'s users to the version `ref` names, if the gates allow; the rest stay on
        the version the alias points at. Again with the running canary's candidate, this changes its share."""
        version_ref = explicit(parse_version_ref(ref, tenant or principal.tenant), "send to a canary")
        check_alias(alias)
        check_share(share_percent)
        require(principal, Action.promote, version_ref.model.tenant)
        actor = acting(principal, by)
        target, refusal = f"{version_ref.model}@{alias}", None
        with self._writing() as tx:
            row = version_row(tx.session, version_ref)
            model = row.model
            stable = model.current_aliases().get(alias)
            running = model.running_canary(alias)
            if stable is None:
                raise RegistryError(f"{target} is not set; promote a stable version to it before a canary can share its traffic")
            if stable.version_id == row.id:
                raise RegistryError(f"{target} points at v{row.version} already; a canary needs another version")
            if running is not None and running.candidate_version_id != row.id:
                raise RegistryError(
                    f"{target} has a canary of v{running.candidate.version} running; promote or abort it before starting another"
                )
            if failures := promotion_failures(tx.session, row, alias):
                tx.audit(actor, version_ref.model.tenant, "alias.canary_refused", row.ref, after={"alias": alias, "failed_gates": failures})
                refusal = GateRefusedError(f"canary of {row.ref} on {alias!r} refused: " + "; ".join(failures), failures)
            elif running is not None:
                if running.share_percent != share_percent:
                    tx.audit(
                        actor,
                        version_ref.model.tenant,
                        "alias.canary_share",
                        target,
                        before={"share_percent": running.share_percent},
                        after={"share_percent": share_percent},
                    )
                    running.share_percent = share_percent
                record = running.to_entity()
            else:
                canary = AliasCanary(
                    model_id=model.id,
                    alias=alias,
                    stable=stable.version,
                    candidate=row,
                    share_percent=share_percent,
                    assignment_key=new_assignment_key(),
                    started_at=now(),
                    started_by=actor,
                )
                tx.session.add(canary)
                tx.audit(
                    actor,
                    version_ref.model.tenant,
                    "alias.canary_start",
                    target,
                    before={"version": stable.version.version},
                    after={"stable": stable.version.version, "candidate": row.version, "share_percent": share_percent},
                )
                record = canary.to_entity()
        if refusal:
            raise refusal
        return record

    def promote_canary(
        self, principal: Principal, name: str, alias: str, *, tenant: str | None = None, by: str | None = None
    ) -> AliasChange:
        """End the canary on `alias` by pointing the alias at its candidate (the gates are checked again)."""
        ended = self._end_canary(principal, name, alias, "promoted", tenant=tenant, by=by)
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        return AliasChange(
            tenant=model_ref.tenant,
            name=model_ref.name,
            alias=alias,
            from_version=ended.stable_version,
            to_version=ended.candidate_version,
            changed=True,
        )

    def abort_canary(
        self, principal: Principal, name: str, alias: str, *, tenant: str | None = None, by: str | None = None
    ) -> CanaryRecord:
        """End the canary on `alias`; every user is answered by the stable version again."""
        return self._end_canary(principal, name, alias, "aborted", tenant=tenant, by=by)

    def canary_status(
        self, principal: Principal, name: str, alias: str, *, tenant: str | None = None, gap: float = DEFAULT_GAP
    ) -> CanaryStatus:
        """Per-arm figures of the alias's newest canary (running or ended), their tests and the decision they support."""
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        check_alias(alias)
        require(principal, Action.read, model_ref.tenant)
        if not 0 < gap < 1:
            raise ConfigError(f"--gap {gap:g}: the positive-rate gap to detect is a fraction between 0 and 1, e.g. 0.05")
        with self._reading() as session:
            row = _newest_canary(model_row(session, model_ref), alias)
            if row is None:
                raise NotFoundError(
                    f"{model_ref}@{alias} never had a canary; start one with `adaptlab registry promote NAME@vN --alias {alias} --canary 10`"
                )
            stable, candidate = (
                arm_samples(session, version_id, alias, row.started_at, row.ended_at)
                for version_id in (row.stable_version_id, row.candidate_version_id)
            )
            report = canary_report(f"{model_ref}@v{row.stable.version}", f"{model_ref}@v{row.candidate.version}", stable, candidate, gap)
            return CanaryStatus(canary=row.to_entity(), report=report)

    def canary_split(self, principal: Principal, ref: str) -> CanarySplit | None:
        """How the alias `ref` (tenant/name@alias) splits its traffic now; None while no canary runs on it."""
        version_ref = parse_version_ref(ref, principal.tenant)
        if version_ref.alias is None:
            raise ConfigError(f"{ref}: a canary split belongs to an alias (tenant/name@alias)")
        require(principal, Action.read, version_ref.model.tenant)
        with self._reading() as session:
            model = find_model(session, version_ref.model)
            row = model.running_canary(version_ref.alias) if model is not None else None
            if row is None:
                return None
            return CanarySplit(
                stable_ref=_ref(version_ref.model, row.stable),
                candidate_ref=_ref(version_ref.model, row.candidate),
                share_percent=row.share_percent,
                assignment_key=row.assignment_key,
            )

    def _end_canary(self, principal: Principal, name: str, alias: str, outcome: str, *, tenant: str | None, by: str | None) -> CanaryRecord:
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        check_alias(alias)
        require(principal, Action.promote, model_ref.tenant)
        actor = acting(principal, by)
        refusal = None
        with self._writing() as tx:
            canary = model_row(tx.session, model_ref).running_canary(alias)
            if canary is None:
                raise RegistryError(f"no canary is running on {model_ref}@{alias}; `adaptlab registry canary status` shows the last one")
            failures = promotion_failures(tx.session, canary.candidate, alias) if outcome == "promoted" else []
            if failures:
                tx.audit(
                    actor, model_ref.tenant, "alias.canary_refused", canary.candidate.ref, after={"alias": alias, "failed_gates": failures}
                )
                refusal = GateRefusedError(
                    f"promotion of the canary {canary.candidate.ref} to {alias!r} refused: " + "; ".join(failures), failures
                )
            else:
                _close(tx, canary, model_ref, outcome, actor)
                ended = canary.to_entity()
        if refusal:
            raise refusal
        return ended


def _close(tx: AuditWriter, canary: AliasCanary, model_ref: ModelRef, outcome: str, actor: str) -> None:
    """End the canary; a promotion also moves the alias (a promotion row, audited as such)."""
    target, at = f"{model_ref}@{canary.alias}", now()
    canary.ended_at, canary.ended_by, canary.outcome = at, actor, outcome
    shown = {"stable": canary.stable.version, "candidate": canary.candidate.version, "share_percent": canary.share_percent}
    tx.audit(
        actor,
        model_ref.tenant,
        f"alias.canary_{'promote' if outcome == 'promoted' else 'abort'}",
        target,
        before=shown,
        after={"outcome": outcome},
    )
    if outcome == "promoted":
        tx.session.add(
            AliasAssignment(model_id=canary.model_id, alias=canary.alias, version=canary.candidate, assigned_at=at, assigned_by=actor)
        )
        tx.audit(
            actor,
            model_ref.tenant,
            "alias.promote",
            target,
            before={"version": canary.stable.version},
            after={"version": canary.candidate.version},
        )


def _newest_canary(model: RegisteredModel, alias: str) -> AliasCanary | None:
    return next((row for row in reversed(model.canaries) if row.alias == alias), None)


def _ref(model_ref: ModelRef, row: ModelVersion) -> str:
    return f"{model_ref}@v{row.version}"
