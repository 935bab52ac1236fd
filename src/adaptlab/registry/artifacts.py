"""A version's files outside the database: verified local checkouts, export/import bundles, and
garbage collection of blobs no version references and of killed writers' temporaries."""

import tempfile
from pathlib import Path

from sqlalchemy import select

from adaptlab import atomic
from adaptlab.models.hashing import file_sha256
from adaptlab.registry import bundle, cleanup
from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.entities import GcReport, StoredFile, VersionRecord
from adaptlab.registry.lineage import capture_run
from adaptlab.registry.refs import parse_model_ref
from adaptlab.registry.store import now
from adaptlab.registry.tables import ReportFile, VersionFile
from adaptlab.registry.versions import Versions


class Artifacts(Versions):
    def checkout(self, principal: Principal, ref: str, *, tenant: str | None = None) -> VersionRecord:
        """`get_version` plus a local copy of the artifact (`local_path`), every file checked against its SHA-256."""
        record = self.get_version(principal, ref, tenant=tenant)
        return record.model_copy(update={"local_path": self._materialise(record)})

    def export_bundle(self, principal: Principal, ref: str, bundle_path: Path, *, tenant: str | None = None) -> VersionRecord:
        """Write a tar with the version's files, its lineage and a manifest of hashes."""
        record = self.checkout(principal, ref, tenant=tenant)
        bundle.write_bundle(record, Path(bundle_path), exported_by=principal.name, exported_at=now())
        with self._writing() as tx:
            tx.audit(principal.name, record.tenant, "version.export", record.ref, after={"bundle": str(bundle_path)})
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
            return self._register(
                principal, principal.name, model_ref, captured, parents=(), license=source.license, imported_from=origin
            )

    def gc(self, principal: Principal, older_than_s: float = cleanup.DEFAULT_OLDER_THAN_S) -> GcReport:
        """Delete blobs no version references (left by interrupted registrations), and uploads and checkout
        leftovers of killed writers last modified more than `older_than_s` ago (never a running writer's)."""
        require(principal, Action.manage, None)
        uploads, leftovers = self.remove_stale_temporaries(older_than_s)
        deleted, freed = [], 0
        with self._writing() as tx:
            referenced = set(tx.session.scalars(select(VersionFile.sha256).distinct()))
            referenced |= set(tx.session.scalars(select(ReportFile.sha256).distinct()))
            for sha256 in list(self.blobs.stored_hashes()):
                if sha256 not in referenced:
                    freed += self.blobs.size_bytes(sha256)
                    self.blobs.delete(sha256)
                    deleted.append(sha256)
            report = GcReport(
                blobs_deleted=deleted,
                bytes_freed=freed,
                uploads_deleted=uploads.count,
                checkout_leftovers_deleted=leftovers.count,
                temporary_bytes_freed=uploads.bytes_freed + leftovers.bytes_freed,
            )
            tx.audit(principal.name, None, "blobs.gc", self.blobs.url, after=report.model_dump())
        return report

    def _materialise(self, record: VersionRecord) -> Path:
        folder = self.checkout_dir / record.tenant / record.name / f"v{record.version}"
        if _checkout_intact(folder, record.files):
            return folder
        with cleanup.writing(self.checkout_dir), atomic.staging_dir(folder) as staged:
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
