"""Write-then-rename helpers: a reader (or a crash) never sees a half-written file or folder.

Every temporary these helpers make is a hidden name ending in `.tmp` beside its target
(`is_leftover`); a process killed midway leaves only such names, which `remove_leftovers` drops.
"""

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
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


TEMP_SUFFIX = ".tmp"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _temporary_dir(parent: Path, prefix: str) -> Path:
    """mkdtemp, with the permissions mkdir would give (mkdtemp makes 0700; the folder is renamed into place)."""
    path = Path(tempfile.mkdtemp(dir=parent, prefix=prefix, suffix=TEMP_SUFFIX))
    path.chmod(0o777 & ~_umask())
    return path


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: object) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


@contextmanager
def staging_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it becomes `final` by one rename (an existing
    `final` is moved aside just before and deleted after)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_dir(final.parent, prefix=f".{final.name}.")
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    rename_into_place(tmp, final)


def rename_into_place(tmp: Path, final: Path) -> None:
    """Make the whole folder `tmp` become `final` by one rename (an existing `final` is moved aside just before and
    deleted after); on failure `tmp` is deleted and `final` is as it was."""
    try:
        old = _move_aside(final) if final.exists() else None
        try:
            os.replace(tmp, final)
        except BaseException:
            if old is not None:
                os.replace(old, final)  # the new folder could not take its place: the previous one goes back
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def shared_staging_path(final: Path) -> Path:
    """The hidden temporary name beside `final` on which several processes that write one folder together agree
    (one of them makes it with `recreate_dir`, and `rename_into_place`s it once all are done)."""
    final = Path(final)
    return final.with_name(f".{final.name}.shared{TEMP_SUFFIX}")


def recreate_dir(path: Path) -> None:
    """An empty folder at `path` (a killed run's leftover there is dropped)."""
    shutil.rmtree(path, ignore_errors=True)
    Path(path).mkdir(parents=True)


def publish_files(staged: Path, dest: Path, last: tuple[str, ...] = ()) -> None:
    """Move every file of `staged` into `dest` by rename; names in `last` move last, in that order, so each
    one's presence means the files before it are all in place (markers of completeness)."""
    dest.mkdir(parents=True, exist_ok=True)
    names = sorted(p.name for p in staged.iterdir())
    ordered = [n for n in names if n not in last] + [n for n in last if n in names]
    for name in ordered:
        target = dest / name
        if target.is_dir() and not (staged / name).is_dir():
            shutil.rmtree(target)
        os.replace(staged / name, target)
    shutil.rmtree(staged, ignore_errors=True)


def make_staging_dir(parent: Path) -> Path:
    """A hidden temporary folder inside `parent` (same filesystem, so its files can be renamed out)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    return _temporary_dir(parent, prefix=".staging-")


def remove_tree(path: Path) -> None:
    """Delete a folder; a kill midway leaves a hidden leftover, never a half-deleted folder under its own name."""
    shutil.rmtree(_move_aside(Path(path)), ignore_errors=True)


def _move_aside(path: Path) -> Path:
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    os.replace(path, aside)
    return aside


def is_leftover(path: Path) -> bool:
    """A temporary made by this module: hidden and ending in `.tmp`."""
    return path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)


def remove_leftovers(folder: Path) -> None:
    """Drop the temporaries a killed process left in `folder`. Only while no other process writes there."""
    for leftover in filter(is_leftover, Path(folder).glob(".*")):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
