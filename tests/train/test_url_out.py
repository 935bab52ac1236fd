"""`--out` as an fsspec URL (train/run_location.py): the run is written to a local staging folder and copied to the
URL — run.json at the start, each checkpoint (its state.json last), the finished run (run.json last); `--resume`
downloads run.json and the newest whole checkpoint first. memory:// within this process; file:// across processes
(a run killed after a checkpoint, then resumed from the URL)."""

import importlib.util
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import fsspec
import pytest
import torch
from safetensors.torch import load as load_safetensors

from adaptlab.cli import main
from adaptlab.errors import ConfigError
from adaptlab.train.checkpoint import CHECKPOINTS_DIR, STATE_FILE
from adaptlab.train.loop import train
from adaptlab.train.run_location import (
    check_url_out, prepare_staging, read_record, remove_staging, staging_run_dir, upload_checkpoint, upload_started,
)
from tests.train.cli_runs import quiet_env, run, train_argv
from tests.train.helpers import tiny_config, write_copy_task
from tests.train.test_resume import RUN_ARGS, assert_same_run, resume_argv


@pytest.fixture
def memory_url():
    url = f"memory://adaptlab-test-{uuid.uuid4().hex}/run"
    yield url
    fs, root = fsspec.core.url_to_fs(url)
    if fs.exists(root):
        fs.rm(root, recursive=True)
    remove_staging(url)


def remote_names(url: str, folder: str = "") -> set[str]:
    fs, root = fsspec.core.url_to_fs(url)
    return {Path(path).name for path in fs.ls(f"{root}/{folder}".rstrip("/"), detail=False)}


def remote_bytes(url: str, name: str) -> bytes:
    fs, root = fsspec.core.url_to_fs(url)
    return fs.cat_file(f"{root}/{name}")


def test_a_run_trained_to_a_memory_url_lands_there_as_a_plain_folder_run_does(tmp_path, memory_url):
    settings = {"max_steps": 4, "save_every": 2}
    in_folder = train(tiny_config(tmp_path, "lora", **settings)).record
    at_url = train(tiny_config(tmp_path, "lora", out=memory_url, **settings)).record

    assert read_record(memory_url) == at_url and at_url.status == "completed" and at_url.config["out"] == memory_url
    assert not staging_run_dir(memory_url).exists()  # the local copy goes once the URL holds the run
    assert set(at_url.artifact.files) <= remote_names(memory_url)
    assert remote_names(memory_url, CHECKPOINTS_DIR) == {"step-00000002"}
    assert remote_names(memory_url, f"{CHECKPOINTS_DIR}/step-00000002") == {"trainable.safetensors", "optimizer.pt", STATE_FILE}
    assert [p.loss for p in at_url.loss_curve] == [p.loss for p in in_folder.loss_curve]
    url_weights = load_safetensors(remote_bytes(memory_url, "adapter_model.safetensors"))
    folder_weights = load_safetensors((tmp_path / "run-lora" / "adapter_model.safetensors").read_bytes())
    assert url_weights.keys() == folder_weights.keys()
    assert all(torch.equal(url_weights[name], folder_weights[name]) for name in url_weights)


def write_checkpoint_folder(run_dir: Path, step: int) -> Path:
    checkpoint = run_dir / CHECKPOINTS_DIR / f"step-{step:08d}"
    (checkpoint / "shards").mkdir(parents=True)
    (checkpoint / "shards" / "rank0.bin").write_bytes(bytes([step]) * 8)
    (checkpoint / STATE_FILE).write_text(json.dumps({"step": step}))
    return checkpoint


def test_the_url_keeps_the_newest_checkpoints_and_resume_downloads_the_newest_whole_one(tmp_path, memory_url):
    local = tmp_path / "local"
    local.mkdir()
    (local / "run.json").write_text('{"status": "running"}')
    upload_started(memory_url, local)
    for step in (2, 4, 6):
        upload_checkpoint(memory_url, write_checkpoint_folder(local, step))
    assert remote_names(memory_url, CHECKPOINTS_DIR) == {"step-00000004", "step-00000006"}
    fs, root = fsspec.core.url_to_fs(memory_url)
    fs.pipe_file(f"{root}/{CHECKPOINTS_DIR}/step-00000008/shards/rank0.bin", b"half")  # copied without its state.json

    prepare_staging(memory_url, resume=True)
    staged = staging_run_dir(memory_url)
    assert json.loads((staged / "run.json").read_text()) == {"status": "running"}
    assert [p.name for p in (staged / CHECKPOINTS_DIR).iterdir()] == ["step-00000006"]
    assert (staged / CHECKPOINTS_DIR / "step-00000006" / "shards" / "rank0.bin").read_bytes() == bytes([6]) * 8
    assert json.loads((staged / CHECKPOINTS_DIR / "step-00000006" / STATE_FILE).read_text()) == {"step": 6}


def test_a_plain_path_is_written_in_place(tmp_path):
    assert staging_run_dir(tmp_path / "run") == tmp_path / "run"
    assert tiny_config(tmp_path, "lora").out == tmp_path / "run-lora"


MISSING_FILESYSTEMS = [("s3://bucket/run", "s3fs"), ("gs://bucket/run", "gcsfs")]


@pytest.mark.parametrize(("url", "package"), MISSING_FILESYSTEMS)
def test_a_url_whose_filesystem_package_is_missing_is_refused_naming_out(url, package):
    if importlib.util.find_spec(package):
        pytest.skip(f"{package} is installed here")
    with pytest.raises(ConfigError, match=f"--out {url}: its filesystem needs a package that is not installed"):
        check_url_out(url, resume=False)


def test_unusable_urls_are_refused_naming_out(tmp_path, memory_url):
    with pytest.raises(ConfigError, match="--out nope://bucket/run: not a usable fsspec URL"):
        check_url_out("nope://bucket/run", resume=False)
    (tmp_path / "notes.txt").write_text("precious")
    below_a_file = f"file://{tmp_path}/notes.txt/run"
    with pytest.raises(ConfigError, match=f"--out {below_a_file}: cannot write there"):
        check_url_out(below_a_file, resume=False)
    with pytest.raises(ConfigError, match=f"--out {memory_url}: nothing to resume"):
        check_url_out(memory_url, resume=True)
    fs, root = fsspec.core.url_to_fs(memory_url)
    fs.pipe_file(f"{root}/notes.txt", b"theirs")
    with pytest.raises(ConfigError, match=f"--out {memory_url}: not empty"):
        check_url_out(memory_url, resume=False)
    assert (tmp_path / "notes.txt").read_text() == "precious" and fs.cat_file(f"{root}/notes.txt") == b"theirs"


def test_the_command_names_out_without_a_traceback(monkeypatch, capsys, tmp_path):
    data = write_copy_task(tmp_path / "train.jsonl", rows=8)
    monkeypatch.setattr(sys, "argv", ["adaptlab", *train_argv(data, "nope://bucket/run", "--max-steps", "1", launcher=())])
    with pytest.raises(SystemExit) as exited:
        main()
    stderr = capsys.readouterr().err
    assert exited.value.code == 2 and "--out nope://bucket/run: not a usable fsspec URL" in stderr and "Traceback" not in stderr


@pytest.mark.slow
def test_a_run_killed_after_a_checkpoint_resumes_from_a_file_url(tmp_path):
    """Killed once the URL holds a whole checkpoint; --resume from the URL ends as the uninterrupted run."""
    data = write_copy_task(tmp_path / "train.jsonl")
    whole = tmp_path / "whole"
    run(train_argv(data, whole, *RUN_ARGS))
    url_folder = tmp_path / "remote" / "run"
    url = f"file://{url_folder}"
    process = subprocess.Popen(train_argv(data, url, *RUN_ARGS), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=quiet_env())
    deadline = time.monotonic() + 300
    while not list((url_folder / CHECKPOINTS_DIR).glob(f"step-*/{STATE_FILE}")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert process.returncode == -9, "the run finished before it could be killed; raise --max-steps"
    assert read_record(url).status == "running"

    resumed = run(resume_argv(url))
    assert "resuming at step" in resumed.stdout
    assert_same_run(whole, url_folder)
