"""Write-then-rename helpers: a reader (or a crash) never sees a half-written file or folder."""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _temporary_dir(parent: Path, prefix: str) -> Path:
    """mkdtemp, with the permissions mkdir would give (mkdtemp makes 0700; the folder is renamed into place)."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=".tmp"))
    path.chmod(0o777 & ~_umask())
    return path


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


@contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it replaces `final` in one rename."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_dir(final.parent, prefix=f".{final.name}.")
    try:
        yield tmp
        if final.exists():
            old = final.with_name(f".{final.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_files(staged: Path, dest: Path, last: tuple[str, ...] = ()) -> None:
    """Move every file of `staged` into `dest` by rename; names in `last` move last (markers of completeness)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in staged.iterdir())
    ordered = [n for n in names if n not in last] + [n for n in last if n in names]
    for name in ordered:
        target = dest / name
        if target.is_dir() and not (staged / name).is_dir():
            shutil.rmtree(target)
        os.replace(staged / name, target)
    shutil.rmtree(staged, ignore_errors=True)


STAGING_PREFIX = ".staging-"


def make_staging_dir(parent: Path) -> Path:
    """A hidden temporary folder inside `parent` (same filesystem, so its files can be renamed out)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    return _temporary_dir(parent, prefix=STAGING_PREFIX)


def remove_stale_staging(parent: Path) -> None:
    """Drop staging folders left by a process that was killed before it could publish them."""
    for stale in Path(parent).glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
