"""Content-addressed artifact store on any fsspec URL: a file is kept once, under its SHA-256,
and checked against that hash whenever it is read back."""

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec

from adaptlab.errors import ArtifactError

_CHUNK_BYTES = 1 << 20
TMP_GRACE_S = 3600


class BlobStore:
    """Blobs live at `<url>/sha256/<first two hex>/<hash>`; uploads go to `<url>/tmp/` and are renamed in."""

    def __init__(self, url: str):
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")

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

    def stale_uploads(self, older_than_s: float = TMP_GRACE_S) -> list[str]:
        """Upload leftovers of crashed writers (older than an hour, so running uploads are left alone)."""
        prefix = f"{self.root}/tmp"
        if not self.fs.exists(prefix):
            return []
        cutoff = time.time() - older_than_s
        return [path for path in self.fs.find(prefix) if self.fs.modified(path).timestamp() < cutoff]

    def delete_path(self, path: str) -> None:
        self.fs.rm_file(path)
