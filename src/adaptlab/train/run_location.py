"""`--out` as an fsspec URL (`s3://bucket/run`, `gs://…`, `file:///…`, `memory://…`): the run is written to a local
staging folder of the writing process as usual (the same folder for every process of one machine), and copied to
the URL with fsspec — run.json when the run starts, each checkpoint once written, the finished run at the end. A
`--resume` first downloads run.json and the newest whole checkpoint. A plain path is written in place; every
function here then does nothing.

Object stores have no rename, so a copied folder is whole when its marker, copied after every other file, is there:
a checkpoint's state.json, the run's loader entry files and run.json (the same markers as a local artifact's).
"""

import hashlib
import json
import shutil
import uuid
from pathlib import Path, PurePosixPath

from adaptlab.atomic import is_leftover, recreate_dir
from adaptlab.errors import ConfigError
from adaptlab.paths import cache_dir
from adaptlab.schemas.run_record import RUN_RECORD_FILE, RunRecord, read_run_record
from adaptlab.schemas.train_config import is_url
from adaptlab.train.checkpoint import CHECKPOINTS_DIR, KEEP_LAST, STATE_FILE

STAGING_DIR = "url-runs"


def open_url(url: str):
    """(filesystem, root path) of an --out URL; a ConfigError naming it when its filesystem cannot be used."""
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise ConfigError(f"--out {url}: its filesystem needs a package that is not installed ({exc})") from None
    except (ValueError, OSError) as exc:
        raise ConfigError(f"--out {url}: not a usable fsspec URL ({exc})") from None
    return fs, root.rstrip("/")


def staging_run_dir(out: str | Path) -> Path:
    """The local folder the run is written to: `out` itself, or for a URL a folder of adaptlab's cache named by it."""
    if not is_url(out):
        return Path(out)
    return cache_dir() / STAGING_DIR / hashlib.sha256(str(out).encode()).hexdigest()[:16]


def check_url_out(out: str | Path, resume: bool) -> None:
    """Every process, before anything loads: a URL that can be written (a probe is written and deleted) and holds
    no other run (or, with --resume, a run to resume)."""
    if not is_url(out):
        return
    fs, root = open_url(out)
    probe = f"{root}/.adaptlab-write-check-{uuid.uuid4().hex}.tmp"
    try:
        fs.makedirs(root, exist_ok=True)
        fs.pipe_file(probe, b"")
        fs.rm_file(probe)
    except Exception as exc:  # noqa: BLE001 - each filesystem raises its own errors (botocore, gcsfs, OSError)
        raise ConfigError(f"--out {out}: cannot write there ({exc}); choose another --out") from None
    if resume and not fs.isfile(f"{root}/{RUN_RECORD_FILE}"):
        raise ConfigError(f"--out {out}: nothing to resume (no {RUN_RECORD_FILE})")
    held = fs.ls(root, detail=False) if fs.exists(root) else []  # an object store has no empty folders
    if not resume and any(not PurePosixPath(path).name.startswith(".") for path in held):
        raise ConfigError(f"--out {out}: not empty; choose another --out, or --resume an interrupted run")


def prepare_staging(out: str | Path, resume: bool) -> None:
    """One process per machine, before the others look at the staging folder: for a URL, an empty one (a new run)
    or one holding the URL's run.json and newest whole checkpoint (--resume)."""
    if not is_url(out):
        return
    fs, root = open_url(out)
    local = staging_run_dir(out)
    recreate_dir(local)
    if resume:
        fs.get_file(f"{root}/{RUN_RECORD_FILE}", str(local / RUN_RECORD_FILE))
        for checkpoint in remote_checkpoints(fs, root)[-1:]:
            fs.get(f"{checkpoint}/", str(local / CHECKPOINTS_DIR / PurePosixPath(checkpoint).name), recursive=True)


def remote_checkpoints(fs, root: str) -> list[str]:
    """The whole checkpoints at the URL (their state.json copied), oldest first."""
    folder = f"{root}/{CHECKPOINTS_DIR}"
    if not fs.isdir(folder):
        return []
    names = sorted(PurePosixPath(path).name for path in fs.ls(folder, detail=False))
    return [f"{folder}/{name}" for name in names if name.startswith("step-") and fs.isfile(f"{folder}/{name}/{STATE_FILE}")]


def copied_files(local: Path, skip: tuple[str, ...]):
    """The files under `local` a copy takes: none below the top-level names in `skip`, and no temporaries."""
    for path in sorted(local.rglob("*")):
        parts = path.relative_to(local).parts
        if path.is_file() and parts[0] not in skip and not any(is_leftover(Path(part)) for part in parts):
            yield path


def upload_files(local: Path, url_folder: str, fs, last: tuple[str, ...] = (), skip: tuple[str, ...] = ()) -> None:
    """Copy the files under `local` (but not the top-level names in `skip`, nor temporaries) to `url_folder`, the
    top-level files named in `last` after all the others, in that order."""
    files = list(copied_files(local, skip))
    ordered = [p for p in files if p.relative_to(local).as_posix() not in last]
    ordered += [local / name for name in last if (local / name).is_file()]
    for path in ordered:
        target = f"{url_folder}/{path.relative_to(local).as_posix()}"
        fs.makedirs(target.rsplit("/", 1)[0], exist_ok=True)
        fs.put_file(str(path), target)


def upload_started(out: str | Path, run_dir: Path) -> None:
    """Main process: the new run's run.json (status running), so that --resume finds the run."""
    if is_url(out):
        fs, root = open_url(out)
        fs.put_file(str(run_dir / RUN_RECORD_FILE), f"{root}/{RUN_RECORD_FILE}")


def upload_checkpoint(out: str | Path, checkpoint: Path) -> None:
    """Main process: a checkpoint just written, its state.json last; then the URL keeps the newest KEEP_LAST (an old
    one loses its state.json first, so it is never taken for whole)."""
    if not is_url(out):
        return
    fs, root = open_url(out)
    upload_files(checkpoint, f"{root}/{CHECKPOINTS_DIR}/{checkpoint.name}", fs, last=(STATE_FILE,))
    for old in remote_checkpoints(fs, root)[:-KEEP_LAST]:
        fs.rm_file(f"{old}/{STATE_FILE}")
        fs.rm(old, recursive=True)


def upload_run(out: str | Path, run_dir: Path, last: tuple[str, ...]) -> None:
    """Main process: the finished run's files (the checkpoints are there already), the markers in `last` last."""
    if is_url(out):
        fs, root = open_url(out)
        upload_files(run_dir, root, fs, last=last, skip=(CHECKPOINTS_DIR,))


def remove_staging(out: str | Path) -> None:
    """One process per machine, once the run is copied to its URL: the local staging folder goes."""
    if is_url(out):
        shutil.rmtree(staging_run_dir(out), ignore_errors=True)


def read_record(out: str | Path) -> RunRecord:
    """The run.json of a run folder or URL."""
    if not is_url(out):
        return read_run_record(Path(out))
    return RunRecord.model_validate(read_record_json(out))


def read_record_json(out: str | Path) -> dict | None:
    """The raw run.json of a run folder or URL; None when there is none."""
    if not is_url(out):
        record_file = Path(out) / RUN_RECORD_FILE
        return json.loads(record_file.read_text()) if record_file.is_file() else None
    fs, root = open_url(out)
    record_file = f"{root}/{RUN_RECORD_FILE}"
    return json.loads(fs.cat_file(record_file)) if fs.isfile(record_file) else None
