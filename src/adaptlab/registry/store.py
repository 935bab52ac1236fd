"""What every part of the registry service shares: `RegistryStore` (the engine and blob store, read and
write transactions; each write appends to the hash-chained audit log under the audit head lock) and
the row lookups, which load what the views need in a constant number of queries."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from adaptlab.errors import ConfigError
from adaptlab.registry.access import Principal
from adaptlab.registry.audit import canonical_json, entry_hash
from adaptlab.registry.blobs import BlobStore
from adaptlab.registry.database import database_url, open_engine, write_engine
from adaptlab.registry.errors import AccessDeniedError, NotFoundError
from adaptlab.registry.refs import ModelRef, VersionRef, check_name
from adaptlab.registry.tables import AliasAssignment, AuditHead, AuditRow, ModelVersion, RegisteredModel, Tenant

MODEL_LOADING = (
    contains_eager(RegisteredModel.tenant),
    selectinload(RegisteredModel.alias_assignments).selectinload(AliasAssignment.version),
)
"""Loader options for a model row selected with its tenant joined: its aliases come in one more query, their versions in another."""
VERSION_LOADING = (selectinload(ModelVersion.files), selectinload(ModelVersion.approvals))
"""Loader options for version rows: files and approvals of all of them in one query each."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


class AuditWriter:
    """A write transaction holding the audit head lock; `audit` appends the next chained entry."""

    def __init__(self, session: Session, head: AuditHead):
        self.session = session
        self.head = head

    def audit(self, actor: str, tenant: str | None, action: str, target: str, before: Any = None, after: Any = None) -> None:
        seq, at = self.head.seq + 1, now()
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


class RegistryStore:
    """Open with `Registry.open(folder, db=URL, blobs=URL)`; close (or use as a context manager) when done."""

    def __init__(self, engine: Engine, blobs: BlobStore, checkout_dir: Path):
        self.engine = engine
        self._writes = write_engine(engine)
        self.blobs = blobs
        self.checkout_dir = checkout_dir

    @classmethod
    def open(cls, root: Path | str = "registry", db: str | None = None, blobs: str | None = None) -> Self:
        """`root` holds registry.db (unless `db` is a URL), blobs/ (unless `blobs` is an fsspec URL) and checkouts/."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        engine = open_engine(database_url(db, root))
        return cls(engine, BlobStore(blobs or str((root / "blobs").resolve())), root / "checkouts")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[AuditWriter]:
        with Session(self._writes, expire_on_commit=False) as session, session.begin():
            head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
            yield AuditWriter(session, head)


# --- lookups (inside a session) -----------------------------------------------------------


def tenant_row(session: Session, name: str) -> Tenant:
    row = session.scalar(select(Tenant).where(Tenant.name == name))
    if row is None:
        raise NotFoundError(f"tenant {name!r} does not exist; create it with `adaptlab registry tenant create {name}`")
    return row


def model_row(session: Session, ref: ModelRef) -> RegisteredModel:
    model = find_model(session, ref)
    if model is None:
        tenant_row(session, ref.tenant)
        raise NotFoundError(f"no model {ref} in the registry; see `adaptlab registry list --tenant {ref.tenant}`")
    return model


def model_row_or_new(session: Session, ref: ModelRef, creator: str) -> RegisteredModel:
    """The model `ref` names, created (without versions) in its tenant if it does not exist yet."""
    model = find_model(session, ref)
    if model is None:
        tenant = tenant_row(session, ref.tenant)
        model = RegisteredModel(tenant=tenant, name=ref.name, latest_version=0, created_at=now(), created_by=creator)
        session.add(model)
        session.flush()
    return model


def version_row(session: Session, ref: VersionRef) -> ModelVersion:
    model = model_row(session, ref.model)
    if ref.alias:
        assignment = model.current_aliases().get(ref.alias)
        if assignment is None:
            raise NotFoundError(f"{ref}: alias {ref.alias!r} is not set; promote a version to it first")
        return assignment.version
    number = ref.version or model.latest_version
    row = session.scalar(
        select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == number).options(*VERSION_LOADING)
    )
    if row is None:
        raise NotFoundError(
            f"{ref}: no such version (latest is v{model.latest_version})" if model.latest_version else f"{ref.model} has no versions yet"
        )
    return row


def find_model(session: Session, ref: ModelRef) -> RegisteredModel | None:
    return session.scalar(models_query().where(Tenant.name == ref.tenant, RegisteredModel.name == ref.name))


def models_query() -> Select[tuple[RegisteredModel]]:
    """Model rows with their tenant joined (filter and order on `Tenant`) and their aliases loaded."""
    return select(RegisteredModel).join(RegisteredModel.tenant).options(*MODEL_LOADING)


def explicit(ref: VersionRef, verb: str) -> VersionRef:
    if ref.version is None and ref.alias is None:
        raise ConfigError(f"{ref}: say which version to {verb}, e.g. {ref}@v3 (or @<alias>)")
    return ref


def acting(principal: Principal, by: str | None) -> str:
    """The name recorded as acting: the principal's, or `by` when a local administrator acts for someone."""
    if by is None or by == principal.name:
        return principal.name
    if principal.is_global_admin:
        return check_name("--by", by)
    raise AccessDeniedError(f"--by {by!r}: only a local administrator may act for someone else; your token acts as {principal.name}")
