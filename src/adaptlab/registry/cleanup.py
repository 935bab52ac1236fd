"""Temporaries a killed writer leaves behind (checkout staging folders, blob uploads) and their removal.

A writer holds a shared lock on its area (`.writers.lock` there) from before it creates a temporary
until the temporary is renamed into place; cleaning takes that lock exclusively without waiting, so it
only runs while no writer in any process is mid-write there, and a dead writer's lock is released by
the kernel. Age (`older_than_s`, by last modification) is a second guard, and the only one where no
lock can be taken (blob stores on remote fsspec URLs).
"""

import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from adaptlab import atomic

LOCK_NAME = ".writers.lock"
DEFAULT_OLDER_THAN_S = 3600


@dataclass(frozen=True)
class Removed:
    count: int = 0
    bytes_freed: int = 0

    def __add__(self, other: "Removed") -> "Removed":
        return Removed(self.count + other.count, self.bytes_freed + other.bytes_freed)


@contextmanager
def writing(area: Path) -> Iterator[None]:
    """Hold the area's shared writer lock while creating and publishing temporaries in it."""
    area.mkdir(parents=True, exist_ok=True)
    with open(area / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield


@contextmanager
def no_writers(area: Path) -> Iterator[bool]:
    """Yields True, holding the lock exclusively, when no writer is active in `area`; False otherwise."""
    area.mkdir(parents=True, exist_ok=True)
    with open(area / LOCK_NAME, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def is_stale(last_modified: float, older_than_s: float, now: float) -> bool:
    return last_modified <= now - older_than_s


def remove_checkout_leftovers(checkout_dir: Path, older_than_s: float) -> Removed:
    """Drop staging and moved-aside folders (`checkouts/T/N/.vK.*.tmp`) of checkouts that never finished."""
    if not checkout_dir.is_dir():
        return Removed()
    with no_writers(checkout_dir) as free:
        if not free:
            return Removed()
        now = time.time()
        removed = Removed()
        for leftover in filter(atomic.is_leftover, checkout_dir.glob("*/*/.*")):
            if is_stale(_last_modified(leftover), older_than_s, now):
                size = _size_bytes(leftover)
                if leftover.is_dir():
                    shutil.rmtree(leftover, ignore_errors=True)
                else:
                    leftover.unlink(missing_ok=True)
                removed += Removed(1, size)
        return removed


def _files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    return [Path(folder) / name for folder, _dirs, names in os.walk(path) for name in names]


def _last_modified(path: Path) -> float:
    """Newest modification time in the tree: a folder being filled is as recent as its newest write."""
    return max((p.lstat().st_mtime for p in [path, *_files(path)]), default=0.0)


def _size_bytes(path: Path) -> int:
    return sum(p.lstat().st_size for p in _files(path))
