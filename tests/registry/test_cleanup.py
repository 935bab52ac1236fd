"""Temporaries of killed writers (checkout staging folders, blob uploads) are removed, bytes counted;
a temporary whose writer is alive (it holds the area's lock) never is, however old."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adaptlab.registry.blobs import BlobStore
from adaptlab.registry.cleanup import Removed, remove_checkout_leftovers

HOLDER = """
import sys, time
from pathlib import Path
from adaptlab.registry import cleanup
with cleanup.writing(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    for file in [path, *path.rglob("*")]:
        os.utime(file, (then, then))
    return path


def _leftover(checkout_dir: Path, name: str, size: int) -> Path:
    folder = checkout_dir / "acme" / "bot" / name
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(bytes(size))
    return folder


@pytest.fixture
def writer(tmp_path):
    """`writer(area)`: another process holding the area's writer lock, as a registration or checkout would; killed with SIGKILL after."""
    processes = []

    def start(area: Path) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, "-c", HOLDER, str(area)], stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "locked"
        processes.append(process)
        return process

    yield start
    for process in processes:
        process.kill()
        process.wait()


def test_checkout_leftovers_older_than_the_grace_are_removed(tmp_path):
    checkouts = tmp_path / "checkouts"
    old = _age(_leftover(checkouts, ".v1.k3j4.tmp", 3000), 7200)
    fresh = _leftover(checkouts, ".v2.a8b9.tmp", 500)
    finished = _age(_leftover(checkouts, "v3", 100), 7200)
    assert remove_checkout_leftovers(checkouts, older_than_s=3600) == Removed(1, 3000)
    assert not old.exists() and fresh.exists() and finished.exists()
    assert remove_checkout_leftovers(checkouts, older_than_s=0) == Removed(1, 500)
    assert finished.exists()


def test_a_live_writers_temporaries_are_kept_until_it_dies(tmp_path, writer):
    checkouts = tmp_path / "checkouts"
    staging = _age(_leftover(checkouts, ".v1.k3j4.tmp", 1000), 7200)
    process = writer(checkouts)
    assert remove_checkout_leftovers(checkouts, older_than_s=0) == Removed()
    assert staging.exists()
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert remove_checkout_leftovers(checkouts, older_than_s=0) == Removed(1, 1000)
    assert not staging.exists()


def test_stale_uploads_are_removed_with_their_bytes(tmp_path, writer):
    store = BlobStore(str(tmp_path / "blobs"))
    (tmp_path / "blobs" / "tmp").mkdir(parents=True)
    upload = tmp_path / "blobs" / "tmp" / "0f3a"
    upload.write_bytes(bytes(2048))
    assert store.remove_stale_uploads(older_than_s=3600) == Removed()
    process = writer(tmp_path / "blobs")
    assert store.remove_stale_uploads(older_than_s=0) == Removed()
    process.kill()
    process.wait()
    assert store.remove_stale_uploads(older_than_s=0) == Removed(1, 2048)
    assert not upload.exists()


def test_remote_stores_go_by_age_alone(tmp_path):
    store = BlobStore("memory://adaptlab-cleanup-test")
    store.fs.pipe(f"{store.root}/tmp/0f3a", bytes(100))
    assert store.remove_stale_uploads(older_than_s=3600) == Removed()
    assert store.remove_stale_uploads(older_than_s=0) == Removed(1, 100)
    assert store.remove_stale_uploads(older_than_s=0) == Removed()


def test_cleaning_during_an_upload_leaves_it_alone(tmp_path):
    store = BlobStore(str(tmp_path / "blobs"))
    source = tmp_path / "weights.bin"
    source.write_bytes(bytes(4096))
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
    copy, during = store.fs.put_file, []

    def put_then_clean(local, remote, **kwargs):  # cleaning runs between the upload and its rename into place
        copy(local, remote, **kwargs)
        during.append(store.remove_stale_uploads(older_than_s=0))

    store.fs.put_file = put_then_clean
    store.put(source, sha256)
    assert during == [Removed()] and store.has(sha256)


def test_cleaning_during_a_checkout_leaves_it_alone(registry, admin, new_run):
    registry.create_tenant(admin, "acme")
    registry.register(admin, new_run(), "acme/bot")
    read, during = registry.blobs.fs.open, []

    def open_then_clean(path, mode="rb", **kwargs):  # cleaning runs while the staging folder is being filled
        during.append(remove_checkout_leftovers(registry.checkout_dir, older_than_s=0))
        return read(path, mode, **kwargs)

    registry.blobs.fs.open = open_then_clean
    checkout = registry.checkout(admin, "acme/bot@v1")
    assert during and set(during) == {Removed()}
    assert sorted(p.name for p in checkout.local_path.iterdir()) == sorted(f.path for f in checkout.files)
