"""`Registry`: the governed registry's Python API. Every call takes the acting `Principal`; every
change is one database transaction that also appends to the hash-chained audit log."""

import json
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from adaptlab import atomic
from adaptlab.errors import ConfigError
from adaptlab.models.hashing import file_sha256
from adaptlab.registry import bundle, card
from adaptlab.registry.access import Action, Principal, Role, new_token, require, token_sha256
from adaptlab.registry.audit import ChainEntry, canonical_json, entry_hash, first_break
from adaptlab.registry.blobs import BlobStore
from adaptlab.registry.database import database_url, open_engine, write_engine
from adaptlab.registry.errors import AccessDeniedError, AuthenticationError, GateRefusedError, NotFoundError, RegistryError
from adaptlab.registry.gates import GatePolicy, failed_gates
from adaptlab.registry.lineage import CapturedRun, Lineage, capture_run, gate_metrics
from adaptlab.registry.records import (
    AliasChange,
    AliasEvent,
    ApprovalRecord,
    AuditEntry,
    AuditVerification,
    GcReport,
    ModelSummary,
    StoredFile,
    VersionRecord,
)
from adaptlab.registry.refs import ModelRef, VersionRef, check_alias, check_name, parse_model_ref, parse_version_ref
from adaptlab.registry.tables import (
    AliasAssignment,
    ApiToken,
    Approval,
    AuditHead,
    AuditRow,
    ModelVersion,
    RegisteredModel,
    Tenant,
    VersionFile,
)

PEFT_WEIGHTS_FILE = "adapter_model.safetensors"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class _Writer:
    """A write transaction holding the audit head lock; `audit` appends the next chained entry."""

    def __init__(self, session: Session, head: AuditHead):
        self.session = session
        self.head = head

    def audit(self, actor: str, tenant: str | None, action: str, target: str, before: Any = None, after: Any = None) -> None:
        seq, at = self.head.seq + 1, _now()
        digest = entry_hash(
            seq=seq, at=at, actor=actor, tenant=tenant, action=action, target=target, before=before, after=after, prev_hash=self.head.hash
        )
        self.session.add(
            AuditRow(
                seq=seq,
                at=at,
                actor=actor,
                tenant=tenant,
                action=action,
                target=target,
                before_json=canonical_json(before),
                after_json=canonical_json(after),
                prev_hash=self.head.hash,
                hash=digest,
            )
        )
        self.head.seq, self.head.hash = seq, digest


class Registry:
    """Open with `Registry.open(folder, db=URL, blobs=URL)`; close (or use as a context manager) when done."""

    def __init__(self, engine: Engine, blobs: BlobStore, checkout_dir: Path):
        self.engine = engine
        self._writes = write_engine(engine)
        self.blobs = blobs
        self.checkout_dir = checkout_dir

    @classmethod
    def open(cls, root: Path | str = "registry", db: str | None = None, blobs: str | None = None) -> "Registry":
        """`root` holds registry.db (unless `db` is a URL), blobs/ (unless `blobs` is an fsspec URL) and checkouts/."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        engine = open_engine(database_url(db, root))
        return cls(engine, BlobStore(blobs or str((root / "blobs").resolve())), root / "checkouts")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Registry":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # --- transactions -------------------------------------------------------------------------

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[_Writer]:
        with Session(self._writes, expire_on_commit=False) as session, session.begin():
            head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
            yield _Writer(session, head)

    # --- tenants and tokens -------------------------------------------------------------------

    def create_tenant(self, principal: Principal, name: str) -> None:
        require(principal, Action.manage, None)
        check_name("tenant", name)
        with self._writing() as tx:
            if tx.session.scalar(select(Tenant).where(Tenant.name == name)):
                raise RegistryError(f"tenant {name!r} already exists")
            tx.session.add(Tenant(name=name, created_at=_now(), created_by=principal.name))
            tx.audit(principal.name, name, "tenant.create", name, after={"tenant": name})

    def list_tenants(self, principal: Principal) -> list[str]:
        with self._reading() as session:
            names = session.scalars(select(Tenant.name).order_by(Tenant.name)).all()
        return [name for name in names if principal.tenant in (None, name)]

    def create_token(self, principal: Principal, tenant: str, role: Role | str, name: str) -> str:
        """A new API token for `name` acting as `role` in `tenant`; the token is returned once and stored hashed."""
        role = Role(role)
        require(principal, Action.manage, tenant)
        check_name("token name", name)
        token = new_token()
        with self._writing() as tx:
            tenant_row = self._tenant(tx.session, tenant)
            row = ApiToken(
                token_sha256=token_sha256(token),
                name=name,
                role=role.value,
                tenant_id=tenant_row.id,
                created_at=_now(),
                created_by=principal.name,
            )
            tx.session.add(row)
            tx.session.flush()
            tx.audit(
                principal.name, tenant, "token.create", f"token:{row.id}", after={"token_id": row.id, "name": name, "role": role.value}
            )
        return token

    def list_tokens(self, principal: Principal, tenant: str) -> list[dict]:
        require(principal, Action.manage, tenant)
        with self._reading() as session:
            rows = session.scalars(
                select(ApiToken).where(ApiToken.tenant_id == self._tenant(session, tenant).id).order_by(ApiToken.id)
            ).all()
            return [{"id": r.id, "name": r.name, "role": r.role, "created_at": r.created_at, "revoked_at": r.revoked_at} for r in rows]

    def revoke_token(self, principal: Principal, token_id: int) -> None:
        with self._writing() as tx:
            row = tx.session.get(ApiToken, token_id)
            if row is None:
                raise NotFoundError(f"no API token with id {token_id}; list them with `adaptlab registry token list --tenant T`")
            tenant = tx.session.get(Tenant, row.tenant_id).name
            require(principal, Action.manage, tenant)
            if row.revoked_at is None:
                row.revoked_at = _now()
                tx.audit(principal.name, tenant, "token.revoke", f"token:{row.id}", before={"revoked": False}, after={"revoked": True})

    def authenticate(self, token: str) -> Principal:
        with self._reading() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == token_sha256(token)))
            if row is None or row.revoked_at is not None:
                raise AuthenticationError("unknown or revoked API token; ask a tenant admin for one (`adaptlab registry token create`)")
            return Principal(name=row.name, role=Role(row.role), tenant=session.get(Tenant, row.tenant_id).name)

    # --- registration -------------------------------------------------------------------------

    def register(
        self,
        principal: Principal,
        run_dir: Path,
        name: str,
        *,
        tenant: str | None = None,
        parents: Sequence[str] = (),
        license: str | None = None,
        by: str | None = None,
    ) -> VersionRecord:
        """Store a finished training run folder, or a combined adapter folder, as the next version of `name`;
        lineage comes from the folder, parent versions from `parents` and from its adapter parents' weights."""
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.register, model_ref.tenant)
        return self._register(principal, _actor(principal, by), model_ref, capture_run(run_dir), parents, license, imported_from=None)

    def _register(
        self,
        principal: Principal,
        registrant: str,
        model_ref: ModelRef,
        captured: CapturedRun,
        parents: Sequence[str],
        license: str | None,
        imported_from: str | None,
    ) -> VersionRecord:
        parent_refs = [parse_version_ref(text, model_ref.tenant) for text in parents]
        for parent in parent_refs:
            require(principal, Action.read, parent.model.tenant)
        stored = {path: (file_sha256(local), local.stat().st_size) for path, local in captured.files.items()}
        parent_weights = captured.lineage.adapter_parent_weights_sha256 or [
            file_sha256(weights) for folder in captured.lineage.adapter_parents if (weights := Path(folder) / PEFT_WEIGHTS_FILE).is_file()
        ]
        for path, (sha256, _size) in stored.items():
            self.blobs.put(captured.files[path], sha256)
        action = "version.import" if imported_from else "version.register"
        with self._writing() as tx:
            session = tx.session
            tenant_row = self._tenant(session, model_ref.tenant)
            model = self._model(session, model_ref, create_in=tenant_row, creator=registrant)
            for path, (sha256, _size) in stored.items():
                if not self.blobs.has(sha256):  # removed by a concurrent `gc` before we took the lock
                    self.blobs.put(captured.files[path], sha256)
            parent_versions = [self._version(session, parent)[1] for parent in parent_refs]
            parent_versions += self._versions_with_weights(session, tenant_row, parent_weights)
            lineage = captured.lineage.model_copy(
                update={
                    "parent_versions": list(dict.fromkeys(self._version_ref(session, row) for row in parent_versions)),
                    "imported_from": imported_from,
                }
            )
            model.latest_version += 1
            row = ModelVersion(
                model_id=model.id,
                version=model.latest_version,
                created_at=_now(),
                created_by=registrant,
                run_id=lineage.run_id,
                method=lineage.method,
                artifact_kind=captured.artifact_kind,
                base_model_id=lineage.base_model.model_id,
                base_weights_sha256=lineage.base_model.weights_sha256,
                license=license,
                metrics_json=canonical_json(gate_metrics(lineage)),
                lineage_json=lineage.model_dump_json(),
            )
            session.add(row)
            session.flush()
            session.add_all(
                VersionFile(version_id=row.id, path=path, sha256=sha, size_bytes=size) for path, (sha, size) in sorted(stored.items())
            )
            ref = f"{model_ref}@v{row.version}"
            tx.audit(
                registrant,
                model_ref.tenant,
                action,
                ref,
                after={
                    "version": row.version,
                    "run_id": row.run_id,
                    "files": {path: sha for path, (sha, _size) in sorted(stored.items())},
                    "parents": lineage.parent_versions,
                    "imported_from": imported_from,
                },
            )
            session.flush()
            return self._record(session, model, row)

    def _versions_with_weights(self, session: Session, tenant: Tenant, weights_sha256: list[str]) -> list[ModelVersion]:
        """For each PEFT weights hash, the tenant's first version that stores exactly those weights (if any)."""
        found = []
        for sha256 in weights_sha256:
            match = session.scalar(
                select(ModelVersion)
                .join(VersionFile, VersionFile.version_id == ModelVersion.id)
                .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
                .where(VersionFile.path == PEFT_WEIGHTS_FILE, VersionFile.sha256 == sha256, RegisteredModel.tenant_id == tenant.id)
                .order_by(ModelVersion.id)
            )
            if match is not None:
                found.append(match)
        return found

    # --- reading ------------------------------------------------------------------------------

    def list_models(self, principal: Principal, tenant: str | None = None) -> list[ModelSummary]:
        tenant = tenant or principal.tenant
        require(principal, Action.read, tenant)
        with self._reading() as session:
            query = (
                select(RegisteredModel, Tenant)
                .join(Tenant, Tenant.id == RegisteredModel.tenant_id)
                .order_by(Tenant.name, RegisteredModel.name)
            )
            if tenant:
                query = query.where(Tenant.name == tenant)
            return [
                ModelSummary(
                    tenant=tenant_row.name,
                    name=model.name,
                    latest_version=model.latest_version,
                    aliases={
                        alias: session.get(ModelVersion, version_id).version
                        for alias, version_id in self._current_aliases(session, model).items()
                    },
                    created_at=model.created_at,
                    created_by=model.created_by,
                )
                for model, tenant_row in session.execute(query).all()
            ]

    def list_versions(self, principal: Principal, name: str, *, tenant: str | None = None) -> list[VersionRecord]:
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.read, model_ref.tenant)
        with self._reading() as session:
            model = self._model(session, model_ref)
            rows = session.scalars(select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version)).all()
            return [self._record(session, model, row) for row in rows]

    def get_version(self, principal: Principal, ref: str, *, tenant: str | None = None) -> VersionRecord:
        """The version `ref` names (`[tenant/]name[@vN|@alias]`, bare name = latest), without fetching files."""
        version_ref = parse_version_ref(ref, tenant or principal.tenant)
        require(principal, Action.read, version_ref.model.tenant)
        with self._reading() as session:
            model, row = self._version(session, version_ref)
            return self._record(session, model, row)

    def resolve(self, principal: Principal, ref: str, *, tenant: str | None = None) -> VersionRecord:
        """`get_version` plus a local copy of the artifact, every file checked against its SHA-256."""
        record = self.get_version(principal, ref, tenant=tenant)
        return record.model_copy(update={"local_path": self._materialise(record)})

    def lineage(self, principal: Principal, ref: str, *, tenant: str | None = None) -> Lineage:
        return self.get_version(principal, ref, tenant=tenant).lineage

    def card(self, principal: Principal, ref: str, *, tenant: str | None = None) -> str:
        """A Hugging Face model card (README.md with YAML metadata) for the version."""
        return card.render_card(self.get_version(principal, ref, tenant=tenant))

    def alias_history(self, principal: Principal, name: str, *, tenant: str | None = None, alias: str | None = None) -> list[AliasEvent]:
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.read, model_ref.tenant)
        with self._reading() as session:
            model = self._model(session, model_ref)
            query = select(AliasAssignment).where(AliasAssignment.model_id == model.id).order_by(AliasAssignment.id)
            if alias:
                query = query.where(AliasAssignment.alias == alias)
            return [
                AliasEvent(
                    alias=row.alias,
                    version=session.get(ModelVersion, row.version_id).version,
                    assigned_at=row.assigned_at,
                    assigned_by=row.assigned_by,
                    rolled_back_at=row.rolled_back_at,
                    rolled_back_by=row.rolled_back_by,
                )
                for row in session.scalars(query)
            ]

    # --- governance ---------------------------------------------------------------------------

    def set_gates(self, principal: Principal, name: str, policy: GatePolicy, *, tenant: str | None = None) -> None:
        """Set the promotion gates of a model name (created, without versions, if it has none yet)."""
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.manage, model_ref.tenant)
        for alias in policy.aliases:
            check_alias(alias)
        with self._writing() as tx:
            model = self._model(tx.session, model_ref, create_in=self._tenant(tx.session, model_ref.tenant), creator=principal.name)
            before = _policy(model).model_dump()
            model.gate_policy_json = policy.model_dump_json()
            tx.audit(principal.name, model_ref.tenant, "gates.set", str(model_ref), before=before, after=policy.model_dump())

    def get_gates(self, principal: Principal, name: str, *, tenant: str | None = None) -> GatePolicy:
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.read, model_ref.tenant)
        with self._reading() as session:
            return _policy(self._model(session, model_ref))

    def approve(self, principal: Principal, ref: str, note: str, *, tenant: str | None = None, by: str | None = None) -> VersionRecord:
        version_ref = _explicit(parse_version_ref(ref, tenant or principal.tenant), "approve")
        require(principal, Action.approve, version_ref.model.tenant)
        approver = _actor(principal, by)
        with self._writing() as tx:
            model, row = self._version(tx.session, version_ref)
            target = self._version_ref(tx.session, row)
            if _policy(model).approvers_distinct_from_registrant and approver == row.created_by:
                raise AccessDeniedError(
                    f"{approver} registered {target} and may not approve it; the gates of {version_ref.model} require a different approver"
                )
            if tx.session.scalar(select(Approval).where(Approval.version_id == row.id, Approval.approver == approver)):
                raise RegistryError(f"{target} is already approved by {approver}")
            tx.session.add(Approval(version_id=row.id, approver=approver, note=note, created_at=_now()))
            tx.audit(approver, version_ref.model.tenant, "version.approve", target, after={"approver": approver, "note": note})
            tx.session.flush()
            return self._record(tx.session, model, row)

    def promote(self, principal: Principal, ref: str, alias: str, *, tenant: str | None = None, by: str | None = None) -> AliasChange:
        """Point `alias` at the version, if the model's gates allow; a refusal is audited and names each failed gate."""
        version_ref = _explicit(parse_version_ref(ref, tenant or principal.tenant), "promote")
        check_alias(alias)
        require(principal, Action.promote, version_ref.model.tenant)
        actor = _actor(principal, by)
        refusal = None
        with self._writing() as tx:
            model, row = self._version(tx.session, version_ref)
            target = self._version_ref(tx.session, row)
            current = self._current_assignment(tx.session, model, alias)
            current_version = tx.session.get(ModelVersion, current.version_id).version if current else None
            policy = _policy(model)
            failures = []
            if policy.guards(alias):
                approvers = list(tx.session.scalars(select(Approval.approver).where(Approval.version_id == row.id)))
                failures = failed_gates(policy, json.loads(row.metrics_json), approvers, row.created_by)
            changed = not failures and current_version != row.version
            if failures:
                tx.audit(
                    actor,
                    version_ref.model.tenant,
                    "alias.promote_refused",
                    target,
                    before={"alias": alias, "version": current_version},
                    after={"failed_gates": failures},
                )
                refusal = GateRefusedError(f"promotion of {target} to {alias!r} refused: " + "; ".join(failures), failures)
            elif changed:
                tx.session.add(AliasAssignment(model_id=model.id, alias=alias, version_id=row.id, assigned_at=_now(), assigned_by=actor))
                tx.audit(
                    actor,
                    version_ref.model.tenant,
                    "alias.promote",
                    f"{version_ref.model}@{alias}",
                    before={"version": current_version},
                    after={"version": row.version},
                )
        if refusal:
            raise refusal
        model_ref = version_ref.model
        return AliasChange(
            tenant=model_ref.tenant, name=model_ref.name, alias=alias, from_version=current_version, to_version=row.version, changed=changed
        )

    def rollback(self, principal: Principal, name: str, alias: str, *, tenant: str | None = None, by: str | None = None) -> AliasChange:
        """Point `alias` back at the version it pointed at before its current one."""
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        check_alias(alias)
        require(principal, Action.promote, model_ref.tenant)
        actor = _actor(principal, by)
        with self._writing() as tx:
            model = self._model(tx.session, model_ref)
            active = tx.session.scalars(
                select(AliasAssignment)
                .where(AliasAssignment.model_id == model.id, AliasAssignment.alias == alias, AliasAssignment.rolled_back_at.is_(None))
                .order_by(AliasAssignment.id.desc())
                .limit(2)
            ).all()
            if len(active) < 2:
                state = f"points at v{tx.session.get(ModelVersion, active[0].version_id).version} only" if active else "was never set"
                raise RegistryError(f"{model_ref}@{alias} {state}; there is no earlier version to roll back to")
            current, previous = active
            current.rolled_back_at, current.rolled_back_by = _now(), actor
            from_version = tx.session.get(ModelVersion, current.version_id).version
            to_version = tx.session.get(ModelVersion, previous.version_id).version
            tx.audit(
                actor,
                model_ref.tenant,
                "alias.rollback",
                f"{model_ref}@{alias}",
                before={"version": from_version},
                after={"version": to_version},
            )
        return AliasChange(
            tenant=model_ref.tenant, name=model_ref.name, alias=alias, from_version=from_version, to_version=to_version, changed=True
        )

    # --- audit --------------------------------------------------------------------------------

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
            rows = list(reversed(session.scalars(query).all()))
            return [
                AuditEntry(
                    seq=r.seq,
                    at=r.at,
                    actor=r.actor,
                    tenant=r.tenant,
                    action=r.action,
                    target=r.target,
                    before=_loads(r.before_json),
                    after=_loads(r.after_json),
                    hash=r.hash,
                )
                for r in rows
            ]

    def verify_audit(self, principal: Principal) -> AuditVerification:
        """Recompute the whole chain; names the first edited, deleted or reordered entry."""
        require(principal, Action.manage, principal.tenant)
        with self._reading() as session:
            head = session.get(AuditHead, 1)
            entries = [
                ChainEntry(
                    seq=r.seq,
                    at=r.at,
                    actor=r.actor,
                    tenant=r.tenant,
                    action=r.action,
                    target=r.target,
                    before=_loads(r.before_json),
                    after=_loads(r.after_json),
                    prev_hash=r.prev_hash,
                    hash=r.hash,
                )
                for r in session.scalars(select(AuditRow).order_by(AuditRow.seq))
            ]
            bad_seq, problem = first_break(entries, head.seq, head.hash)
        return AuditVerification(ok=bad_seq is None, entries_checked=len(entries), first_bad_seq=bad_seq, problem=problem)

    # --- bundles and garbage collection -------------------------------------------------------

    def export_bundle(self, principal: Principal, ref: str, bundle_path: Path, *, tenant: str | None = None) -> VersionRecord:
        """Write a tar with the version's files, its lineage and a manifest of hashes."""
        record = self.resolve(principal, ref, tenant=tenant)
        bundle.write_bundle(record, Path(bundle_path), exported_by=principal.name, exported_at=_now())
        self.audit_event(principal, "version.export", record.ref, after={"bundle": str(bundle_path)}, tenant=record.tenant)
        return record

    def import_bundle(
        self, principal: Principal, bundle_path: Path, *, tenant: str | None = None, name: str | None = None
    ) -> VersionRecord:
        """Register a bundle's files (checked against its manifest) as the next version of `name` (default: its source name)."""
        with tempfile.TemporaryDirectory(prefix="adaptlab-import-") as scratch:
            manifest = bundle.read_bundle(Path(bundle_path), Path(scratch))
            source = manifest.version
            model_ref = parse_model_ref(name or source.name, tenant or principal.tenant or source.tenant)
            require(principal, Action.register, model_ref.tenant)
            captured = capture_run(Path(scratch))
            origin = f"{source.ref} (bundle sha256 {manifest.bundle_files_sha256})"
            record = self._register(
                principal, principal.name, model_ref, captured, parents=(), license=source.license, imported_from=origin
            )
        return record

    def gc(self, principal: Principal) -> GcReport:
        """Delete blobs no version references (left by interrupted registrations) and stale uploads."""
        require(principal, Action.manage, None)
        deleted, freed = [], 0
        with self._writing() as tx:
            referenced = set(tx.session.scalars(select(VersionFile.sha256).distinct()))
            for sha256 in list(self.blobs.stored_hashes()):
                if sha256 not in referenced:
                    freed += self.blobs.size_bytes(sha256)
                    self.blobs.delete(sha256)
                    deleted.append(sha256)
            uploads = self.blobs.stale_uploads()
            for path in uploads:
                self.blobs.delete_path(path)
            tx.audit(
                principal.name,
                None,
                "blobs.gc",
                self.blobs.url,
                after={"deleted": deleted, "bytes_freed": freed, "uploads_deleted": len(uploads)},
            )
        return GcReport(blobs_deleted=deleted, bytes_freed=freed, uploads_deleted=len(uploads))

    # --- lookups (inside a session) -----------------------------------------------------------

    def _tenant(self, session: Session, name: str) -> Tenant:
        row = session.scalar(select(Tenant).where(Tenant.name == name))
        if row is None:
            raise NotFoundError(f"tenant {name!r} does not exist; create it with `adaptlab registry tenant create {name}`")
        return row

    def _model(self, session: Session, ref: ModelRef, *, create_in: Tenant | None = None, creator: str = "") -> RegisteredModel:
        tenant = create_in or self._tenant(session, ref.tenant)
        model = session.scalar(select(RegisteredModel).where(RegisteredModel.tenant_id == tenant.id, RegisteredModel.name == ref.name))
        if model is None and create_in is not None:
            model = RegisteredModel(tenant_id=tenant.id, name=ref.name, latest_version=0, created_at=_now(), created_by=creator)
            session.add(model)
            session.flush()
        if model is None:
            raise NotFoundError(f"no model {ref} in the registry; see `adaptlab registry list --tenant {ref.tenant}`")
        return model

    def _version(self, session: Session, ref: VersionRef) -> tuple[RegisteredModel, ModelVersion]:
        model = self._model(session, ref.model)
        if ref.alias:
            assignment = self._current_assignment(session, model, ref.alias)
            if assignment is None:
                raise NotFoundError(f"{ref}: alias {ref.alias!r} is not set; promote a version to it first")
            return model, session.get(ModelVersion, assignment.version_id)
        number = ref.version or model.latest_version
        row = session.scalar(select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == number))
        if row is None:
            raise NotFoundError(
                f"{ref}: no such version (latest is v{model.latest_version})"
                if model.latest_version
                else f"{ref.model} has no versions yet"
            )
        return model, row

    def _version_ref(self, session: Session, row: ModelVersion) -> str:
        model = session.get(RegisteredModel, row.model_id)
        return f"{session.get(Tenant, model.tenant_id).name}/{model.name}@v{row.version}"

    def _current_assignment(self, session: Session, model: RegisteredModel, alias: str) -> AliasAssignment | None:
        return session.scalar(
            select(AliasAssignment)
            .where(AliasAssignment.model_id == model.id, AliasAssignment.alias == alias, AliasAssignment.rolled_back_at.is_(None))
            .order_by(AliasAssignment.id.desc())
            .limit(1)
        )

    def _current_aliases(self, session: Session, model: RegisteredModel) -> dict[str, int]:
        """alias -> version row id, for every alias of the model that points somewhere."""
        rows = session.scalars(
            select(AliasAssignment)
            .where(AliasAssignment.model_id == model.id, AliasAssignment.rolled_back_at.is_(None))
            .order_by(AliasAssignment.id)
        )
        return {row.alias: row.version_id for row in rows}

    def _record(self, session: Session, model: RegisteredModel, row: ModelVersion) -> VersionRecord:
        files = session.scalars(select(VersionFile).where(VersionFile.version_id == row.id).order_by(VersionFile.path))
        approvals = session.scalars(select(Approval).where(Approval.version_id == row.id).order_by(Approval.id))
        return VersionRecord(
            tenant=session.get(Tenant, model.tenant_id).name,
            name=model.name,
            version=row.version,
            created_at=row.created_at,
            created_by=row.created_by,
            run_id=row.run_id,
            method=row.method,
            artifact_kind=row.artifact_kind,
            base_model_id=row.base_model_id,
            base_weights_sha256=row.base_weights_sha256,
            license=row.license,
            metrics=json.loads(row.metrics_json),
            files=[StoredFile(path=f.path, sha256=f.sha256, size_bytes=f.size_bytes) for f in files],
            approvals=[ApprovalRecord(approver=a.approver, note=a.note, at=a.created_at) for a in approvals],
            aliases=sorted(alias for alias, version_id in self._current_aliases(session, model).items() if version_id == row.id),
            lineage=Lineage.model_validate_json(row.lineage_json),
        )

    def _materialise(self, record: VersionRecord) -> Path:
        folder = self.checkout_dir / record.tenant / record.name / f"v{record.version}"
        if _checkout_intact(folder, record.files):
            return folder
        with atomic.staging_dir(folder) as staged:
            for stored in record.files:
                destination = staged / stored.path
                destination.parent.mkdir(parents=True, exist_ok=True)
                self.blobs.fetch(stored.sha256, destination, label=f"{record.ref} file {stored.path}")
        return folder


def _checkout_intact(folder: Path, files: list[StoredFile]) -> bool:
    if not folder.is_dir():
        return False
    present = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    if present != sorted(f.path for f in files):
        return False
    return all(file_sha256(folder / f.path) == f.sha256 for f in files)


def _policy(model: RegisteredModel) -> GatePolicy:
    return GatePolicy.model_validate_json(model.gate_policy_json) if model.gate_policy_json else GatePolicy()


def _explicit(ref: VersionRef, verb: str) -> VersionRef:
    if ref.version is None and ref.alias is None:
        raise ConfigError(f"{ref}: say which version to {verb}, e.g. {ref}@v3 (or @<alias>)")
    return ref


def _actor(principal: Principal, by: str | None) -> str:
    """The name recorded as acting: the principal's, or `by` when a local administrator acts for someone."""
    if by is None or by == principal.name:
        return principal.name
    if principal.is_global_admin:
        return check_name("--by", by)
    raise AccessDeniedError(f"--by {by!r}: only a local administrator may act for someone else; your token acts as {principal.name}")


def _loads(text: str) -> Any:
    """Stored JSON; text that no longer parses (tampering) is returned as-is so the hash check flags it."""
    try:
        return json.loads(text)
    except ValueError:
        return text
