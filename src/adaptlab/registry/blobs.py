"""Content-addressed artifact store on any fsspec URL: a file is kept once, under its SHA-256,
and checked against that hash whenever it is read back."""

import hashlib
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from adaptlab.errors import ArtifactError
from adaptlab.registry import cleanup

_CHUNK_BYTES = 1 << 20


class BlobStore:
    """Blobs live at `<url>/sha256/<first two hex>/<hash>`; uploads go to `<url>/tmp/` and are renamed in
    (on a local disk under the writer lock of `adaptlab.registry.cleanup`)."""

    def __init__(self, url: str):
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")
        self._lock_area = Path(self.root) if isinstance(self.fs, LocalFileSystem) else None

    def blob_path(self, sha256: str) -> str:
        return f"{self.root}/sha256/{sha256[:2]}/{sha256}"

    def describe(self, sha256: str) -> str:
        return self.fs.unstrip_protocol(self.blob_path(sha256))

    def has(self, sha256: str) -> bool:
        return self.fs.exists(self.blob_path(sha256))

    def put(self, local_file: Path, sha256: str) -> None:
        """Store `local_file` (whose hash the caller computed) unless a blob with that hash exists."""
        final = self.blob_path(sha256)
        if self.fs.exists(final):
            return
        tmp = f"{self.root}/tmp/{uuid.uuid4().hex}"
        with self._uploading():
            self.fs.makedirs(f"{self.root}/tmp", exist_ok=True)
            self.fs.makedirs(final.rsplit("/", 1)[0], exist_ok=True)
            self.fs.put_file(str(local_file), tmp)
            self.fs.mv(tmp, final)

    def fetch(self, sha256: str, destination: Path, label: str) -> None:
        """Copy a blob to `destination`, failing (and leaving nothing there) if its content does not hash to `sha256`."""
        source = self.blob_path(sha256)
        digest = hashlib.sha256()
        partial = destination.with_name(f".{destination.name}.partial")
        try:
            with self.fs.open(source, "rb") as reader, open(partial, "wb") as writer:
                while chunk := reader.read(_CHUNK_BYTES):
                    digest.update(chunk)
                    writer.write(chunk)
        except FileNotFoundError as exc:
            partial.unlink(missing_ok=True)
            raise ArtifactError(
                f"{label}: blob {self.describe(sha256)} is missing from the artifact store (expected sha256 {sha256}); restore it from a backup"
            ) from exc
        if digest.hexdigest() != sha256:
            partial.unlink(missing_ok=True)
            raise ArtifactError(
                f"{label}: blob {self.describe(sha256)} is corrupt: its content hashes to {digest.hexdigest()}, "
                f"expected sha256 {sha256}; restore the blob from a backup or register the run again"
            )
        partial.replace(destination)

    def stored_hashes(self) -> Iterator[str]:
        prefix = f"{self.root}/sha256"
        if not self.fs.exists(prefix):
            return
        for path in self.fs.find(prefix):
            yield path.rsplit("/", 1)[-1]

    def size_bytes(self, sha256: str) -> int:
        return self.fs.size(self.blob_path(sha256))

    def delete(self, sha256: str) -> None:
        self.fs.rm_file(self.blob_path(sha256))

    def remove_stale_uploads(self, older_than_s: float) -> cleanup.Removed:
        """Delete upload leftovers of crashed writers: untouched for `older_than_s`, and (on a local disk) only
        while no upload is running in any process."""
        prefix = f"{self.root}/tmp"
        if not self.fs.exists(prefix):
            return cleanup.Removed()
        with self._no_uploads() as free:
            if not free:
                return cleanup.Removed()
            now, removed = time.time(), cleanup.Removed()
            for path, info in self.fs.find(prefix, detail=True).items():
                if cleanup.is_stale(self.fs.modified(path).timestamp(), older_than_s, now):
                    self.fs.rm_file(path)
                    removed += cleanup.Removed(1, info["size"])
            return removed

    def _uploading(self) -> AbstractContextManager:
        return cleanup.writing(self._lock_area) if self._lock_area else nullcontext()

    def _no_uploads(self) -> AbstractContextManager[bool]:
        return cleanup.no_writers(self._lock_area) if self._lock_area else nullcontext(True)
