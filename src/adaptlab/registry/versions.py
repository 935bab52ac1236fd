"""Registering versions (lineage from the run folder, files by hash, parents by name or by weights)
and reading them back: model summaries, version lists, one version, its lineage and model card."""

import tempfile
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from adaptlab.models.hashing import file_sha256
from adaptlab.registry import card
from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.audit import canonical_json
from adaptlab.registry.entities import ModelSummary, VersionRecord
from adaptlab.registry.data_use import refs_using_data
from adaptlab.registry.drift_reference import with_drift_profile
from adaptlab.registry.lineage import CapturedRun, Lineage, capture_run, gate_metrics
from adaptlab.registry.refs import ModelRef, parse_model_ref, parse_version_ref
from adaptlab.registry.store import VERSION_LOADING, RegistryStore, acting, model_row, model_row_or_new, models_query, now, version_row
from adaptlab.registry.tables import ModelVersion, RegisteredModel, Tenant, VersionFile

PEFT_WEIGHTS_FILE = "adapter_model.safetensors"


class Versions(RegistryStore):
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
        profile_prompts: int = 0,
    ) -> VersionRecord:
        """Store a finished training run folder, or a combined adapter folder, as the next version of `name`;
        lineage comes from the folder, parent versions from `parents` and from its adapter parents' weights.
        With `profile_prompts`, a drift reference profile embedding that many training prompts is stored too."""
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.register, model_ref.tenant)
        with tempfile.TemporaryDirectory(prefix="adaptlab-register-") as scratch:
            captured = with_drift_profile(capture_run(run_dir), profile_prompts, Path(scratch))
            return self._register(principal, acting(principal, by), model_ref, captured, parents, license, imported_from=None)

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
            model = model_row_or_new(session, model_ref, creator=registrant)
            for path, (sha256, _size) in stored.items():
                if not self.blobs.has(sha256):  # removed by a concurrent `gc` before we took the lock
                    self.blobs.put(captured.files[path], sha256)
            parent_versions = [version_row(session, parent) for parent in parent_refs]
            parent_versions += _versions_with_weights(session, model.tenant, parent_weights)
            base_version = _base_version(session, model.tenant, captured.lineage.base_model.weights_sha256, parent_versions)
            parent_versions += [base_version] if base_version is not None else []
            lineage = captured.lineage.model_copy(
                update={
                    "parent_versions": list(dict.fromkeys(row.ref for row in parent_versions)),
                    "base_version": None if base_version is None else base_version.ref,
                    "imported_from": imported_from,
                }
            )
            model.latest_version += 1
            row = ModelVersion(
                model=model,
                version=model.latest_version,
                created_at=now(),
                created_by=registrant,
                run_id=lineage.run_id,
                method=lineage.method,
                artifact_kind=captured.artifact_kind,
                base_model_id=lineage.base_model.model_id,
                base_weights_sha256=lineage.base_model.weights_sha256,
                license=license,
                metrics_json=canonical_json(gate_metrics(lineage)),
                lineage_json=lineage.model_dump_json(),
                weights_sha256=lineage.weights_sha256,
                files=[VersionFile(path=path, sha256=sha, size_bytes=size) for path, (sha, size) in sorted(stored.items())],
                approvals=[],
            )
            session.add(row)
            session.flush()
            tx.audit(
                registrant,
                model_ref.tenant,
                action,
                row.ref,
                after={
                    "version": row.version,
                    "run_id": row.run_id,
                    "files": {path: sha for path, (sha, _size) in sorted(stored.items())},
                    "metrics": row.metrics,
                    "parents": lineage.parent_versions,
                    "base_version": lineage.base_version,
                    "imported_from": imported_from,
                },
            )
            session.flush()
            return row.to_entity()

    def list_models(self, principal: Principal, tenant: str | None = None) -> list[ModelSummary]:
        tenant = tenant or principal.tenant
        require(principal, Action.read, tenant)
        with self._reading() as session:
            query = models_query().order_by(Tenant.name, RegisteredModel.name)
            if tenant:
                query = query.where(Tenant.name == tenant)
            return [model.to_entity() for model in session.scalars(query)]

    def list_versions(self, principal: Principal, name: str, *, tenant: str | None = None) -> list[VersionRecord]:
        model_ref = parse_model_ref(name, tenant or principal.tenant)
        require(principal, Action.read, model_ref.tenant)
        with self._reading() as session:
            model = model_row(session, model_ref)
            rows = session.scalars(
                select(ModelVersion).where(ModelVersion.model_id == model.id).order_by(ModelVersion.version).options(*VERSION_LOADING)
            )
            return [row.to_entity() for row in rows]

    def get_version(self, principal: Principal, ref: str, *, tenant: str | None = None) -> VersionRecord:
        """The version `ref` names (`[tenant/]name[@vN|@alias]`, bare name = latest), without fetching files."""
        version_ref = parse_version_ref(ref, tenant or principal.tenant)
        require(principal, Action.read, version_ref.model.tenant)
        with self._reading() as session:
            return version_row(session, version_ref).to_entity()

    def versions_using_data(self, principal: Principal, sha256: str) -> list[VersionRecord]:
        """Every version the principal may see whose training or held-out data included the file with this hash,
        directly or through a parent version: the answer to a deletion request. Parents in other tenants count."""
        require(principal, Action.read, principal.tenant)
        with self._reading() as session:
            records = [row.to_entity() for row in session.scalars(select(ModelVersion).order_by(ModelVersion.id).options(*VERSION_LOADING))]
        using = refs_using_data({record.ref: record.lineage for record in records}, sha256)
        return [record for record in records if record.ref in using and principal.tenant in (None, record.tenant)]

    def lineage(self, principal: Principal, ref: str, *, tenant: str | None = None) -> Lineage:
        return self.get_version(principal, ref, tenant=tenant).lineage

    def card(self, principal: Principal, ref: str, *, tenant: str | None = None) -> str:
        """A Hugging Face model card (README.md with YAML metadata) for the version."""
        return card.render_card(self.get_version(principal, ref, tenant=tenant))


def _versions_with_weights(session: Session, tenant: Tenant, weights_sha256: list[str]) -> list[ModelVersion]:
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


def _base_version(session: Session, tenant: Tenant, base_weights_sha256: str, parents: list[ModelVersion]) -> ModelVersion | None:
    """The registered whole model whose own weights the new version trained on (a hybrid adapter's fine-tuned base):
    among the named parents first (they may sit in another tenant), else the tenant's first version with those weights."""
    named = next((row for row in parents if row.weights_sha256 == base_weights_sha256), None)
    return named or session.scalar(
        select(ModelVersion)
        .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
        .where(ModelVersion.weights_sha256 == base_weights_sha256, RegisteredModel.tenant_id == tenant.id)
        .order_by(ModelVersion.id)
        .options(*VERSION_LOADING)
    )
