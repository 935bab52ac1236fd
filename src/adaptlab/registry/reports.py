"""Comparison reports kept with a version: `attach-report` stores a comparison folder's report files
(report.html, report.md, report.json) as blobs by hash, audited; readers get them back checked against
those hashes, so what the console shows is byte for byte what was attached."""

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from adaptlab.compare.schema import REPORT_HTML, REPORT_JSON, REPORT_MD
from adaptlab.errors import ArtifactError
from adaptlab.models.hashing import file_sha256
from adaptlab.registry.access import Action, Principal, require
from adaptlab.registry.entities import ReportAttachmentRecord
from adaptlab.registry.errors import NotFoundError
from adaptlab.registry.refs import parse_version_ref
from adaptlab.registry.store import RegistryStore, acting, explicit, now, version_row
from adaptlab.registry.tables import ReportAttachment, ReportFile

REPORT_FILES = (REPORT_HTML, REPORT_MD, REPORT_JSON)


def report_files_in(folder: Path) -> dict[str, Path]:
    """The report files of a comparison folder; report.html must be there, the others are taken when present."""
    folder = Path(folder)
    if not (folder / REPORT_HTML).is_file():
        raise ArtifactError(f"{folder}: no {REPORT_HTML} here; attach the output folder of `adaptlab compare` (or run `adaptlab report` there)")
    return {name: folder / name for name in REPORT_FILES if (folder / name).is_file()}


class Reports(RegistryStore):
    def attach_report(
        self, principal: Principal, ref: str, folder: Path, *, tenant: str | None = None, by: str | None = None
    ) -> ReportAttachmentRecord:
        """Store a comparison folder's report files with the version `ref` (trainers, approvers' peers: `register` role)."""
        version_ref = explicit(parse_version_ref(ref, tenant or principal.tenant), "attach a report to")
        require(principal, Action.register, version_ref.model.tenant)
        actor = acting(principal, by)
        files = report_files_in(folder)
        stored = {name: (file_sha256(path), path.stat().st_size) for name, path in files.items()}
        for name, (sha256, _size) in stored.items():
            self.blobs.put(files[name], sha256)
        with self._writing() as tx:
            version = version_row(tx.session, version_ref)
            for name, (sha256, _size) in stored.items():
                if not self.blobs.has(sha256):  # removed by a concurrent `gc` before we took the lock
                    self.blobs.put(files[name], sha256)
            row = ReportAttachment(
                version_id=version.id,
                source=str(Path(folder).resolve()),
                attached_at=now(),
                attached_by=actor,
                files=[ReportFile(path=name, sha256=sha, size_bytes=size) for name, (sha, size) in sorted(stored.items())],
            )
            tx.session.add(row)
            tx.session.flush()
            tx.audit(
                actor,
                version_ref.model.tenant,
                "version.attach_report",
                version.ref,
                after={"attachment": row.id, "source": row.source, "files": {name: sha for name, (sha, _size) in sorted(stored.items())}},
            )
            return row.to_entity()

    def reports(self, principal: Principal, ref: str, *, tenant: str | None = None) -> list[ReportAttachmentRecord]:
        """The reports attached to a version, newest first."""
        version_ref = parse_version_ref(ref, tenant or principal.tenant)
        require(principal, Action.read, version_ref.model.tenant)
        with self._reading() as session:
            version = version_row(session, version_ref)
            rows = session.scalars(
                select(ReportAttachment)
                .where(ReportAttachment.version_id == version.id)
                .order_by(ReportAttachment.id.desc())
                .options(selectinload(ReportAttachment.files))
            )
            return [row.to_entity() for row in rows]

    def fetch_report_file(self, principal: Principal, ref: str, attachment_id: int, path: str, destination: Path) -> None:
        """Copy one attached report file to `destination`, checked against its hash (ArtifactError if the blob is corrupt)."""
        attachment = next((a for a in self.reports(principal, ref) if a.id == attachment_id), None)
        stored = next((f for f in attachment.files if f.path == path), None) if attachment else None
        if stored is None:
            raise NotFoundError(f"{ref} has no attached report #{attachment_id} with a file {path!r}")
        self.blobs.fetch(stored.sha256, destination, label=f"{ref} report #{attachment_id} file {path}")
