"""Export/import bundles: a tar with `manifest.json` (the version, its lineage and every file's
SHA-256) and `files/<path>`. Import checks every file against the manifest before anything is stored."""

import hashlib
import io
import tarfile
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ValidationError

from adaptlab.errors import ArtifactError
from adaptlab.registry.audit import canonical_json
from adaptlab.registry.entities import StoredFile, VersionRecord

MANIFEST_NAME = "manifest.json"
FILES_PREFIX = "files/"
_CHUNK_BYTES = 1 << 20


class BundleManifest(BaseModel):
    format: Literal["adaptlab-registry-bundle"] = "adaptlab-registry-bundle"
    format_version: Literal[1] = 1
    exported_at: str
    exported_by: str
    version: VersionRecord
    bundle_files_sha256: str


def files_digest(files: list[StoredFile]) -> str:
    """One hash naming the exact file set of a version."""
    return hashlib.sha256(canonical_json(sorted([f.path, f.sha256] for f in files)).encode()).hexdigest()


def write_bundle(record: VersionRecord, bundle_path: Path, *, exported_by: str, exported_at: str) -> None:
    """`record.local_path` must be a verified local copy (Registry.checkout)."""
    manifest = BundleManifest(
        exported_at=exported_at,
        exported_by=exported_by,
        version=record.model_copy(update={"local_path": None}),
        bundle_files_sha256=files_digest(record.files),
    )
    bundle_path.parent.mkdir(parents=True, exist_ok=True)
    partial = bundle_path.with_name(f".{bundle_path.name}.partial")
    try:
        with tarfile.open(partial, "w") as tar:
            data = manifest.model_dump_json(indent=2).encode()
            info = tarfile.TarInfo(MANIFEST_NAME)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for stored in record.files:
                tar.add(record.local_path / stored.path, arcname=FILES_PREFIX + stored.path, recursive=False)
        partial.replace(bundle_path)
    finally:
        partial.unlink(missing_ok=True)


def read_bundle(bundle_path: Path, destination: Path) -> BundleManifest:
    """Unpack the bundle's files into `destination`, refusing anything not in the manifest or not matching its hash."""
    try:
        with tarfile.open(bundle_path, "r") as tar:
            manifest = _manifest(tar, bundle_path)
            expected = {FILES_PREFIX + f.path: f for f in manifest.version.files}
            for member in tar.getmembers():
                if member.name == MANIFEST_NAME:
                    continue
                if member.name not in expected or not member.isfile():
                    raise ArtifactError(f"{bundle_path}: member {member.name!r} is not listed in {MANIFEST_NAME}; the bundle was altered")
                _unpack(tar, member, expected.pop(member.name), destination, bundle_path)
    except (tarfile.TarError, OSError) as exc:
        raise ArtifactError(f"{bundle_path}: not a readable bundle tar ({exc})") from exc
    if expected:
        raise ArtifactError(f"{bundle_path}: files listed in {MANIFEST_NAME} are missing: {', '.join(sorted(expected))}")
    if files_digest(manifest.version.files) != manifest.bundle_files_sha256:
        raise ArtifactError(f"{bundle_path}: {MANIFEST_NAME} file list does not match its bundle_files_sha256; the manifest was altered")
    return manifest


def _manifest(tar: tarfile.TarFile, bundle_path: Path) -> BundleManifest:
    try:
        member = tar.getmember(MANIFEST_NAME)
    except KeyError as exc:
        raise ArtifactError(f"{bundle_path}: no {MANIFEST_NAME}; is this a bundle from `adaptlab registry export`?") from exc
    try:
        manifest = BundleManifest.model_validate_json(tar.extractfile(member).read())
    except ValidationError as exc:
        raise ArtifactError(f"{bundle_path}: invalid {MANIFEST_NAME}: {exc}") from exc
    for stored in manifest.version.files:
        path = PurePosixPath(stored.path)
        if path.is_absolute() or ".." in path.parts:
            raise ArtifactError(f"{bundle_path}: {MANIFEST_NAME} names file {stored.path!r} outside the bundle")
    return manifest


def _unpack(tar: tarfile.TarFile, member: tarfile.TarInfo, stored: StoredFile, destination: Path, bundle_path: Path) -> None:
    target = destination / stored.path
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with tar.extractfile(member) as reader, open(target, "wb") as writer:
        while chunk := reader.read(_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
            writer.write(chunk)
    if digest.hexdigest() != stored.sha256 or size != stored.size_bytes:
        raise ArtifactError(
            f"{bundle_path}: {member.name} hashes to {digest.hexdigest()} ({size} bytes), "
            f"expected sha256 {stored.sha256} ({stored.size_bytes} bytes) from {MANIFEST_NAME}; the bundle is corrupt"
        )
