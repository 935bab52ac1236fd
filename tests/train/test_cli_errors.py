"""`adaptlab train` with an unusable --out or --target-modules: exit 2 with one message naming the flag, no traceback,
nothing that was there before touched. Runs the real entry point (`adaptlab.cli.main`) in this process."""

import os
import sys
from pathlib import Path

import pytest

from adaptlab.cli import main
from tests.train.cli_runs import train_argv
from tests.train.helpers import write_copy_task


@pytest.fixture
def data(tmp_path) -> Path:
    return write_copy_task(tmp_path / "train.jsonl", rows=8)


def adaptlab_train(monkeypatch, capsys, data: Path, out: Path, *extra: str) -> tuple[int, str]:
    """Exit code and stderr of `adaptlab train ...`."""
    monkeypatch.setattr(sys, "argv", ["adaptlab", *train_argv(data, out, "--max-steps", "1", *extra, launcher=())])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


def test_out_naming_an_existing_file(monkeypatch, capsys, tmp_path, data):
    out = tmp_path / "notes.txt"
    out.write_text("precious")
    code, stderr = adaptlab_train(monkeypatch, capsys, data, out)
    assert code == 2 and f"--out {out}: is a file, not a folder" in stderr
    assert "Traceback" not in stderr and out.read_text() == "precious"


def test_out_below_a_file(monkeypatch, capsys, tmp_path, data):
    out = tmp_path / "notes.txt" / "run"
    out.parent.write_text("precious")
    code, stderr = adaptlab_train(monkeypatch, capsys, data, out)
    assert code == 2 and f"--out {out}: cannot create the output folder (Not a directory)" in stderr
    assert out.parent.read_text() == "precious"


@pytest.fixture
def unwritable_folder(tmp_path) -> Path:
    """A folder in which making a subfolder really fails: a read-only one for an ordinary user; for root, which
    writes anywhere permissions allow, /sys, where the kernel refuses new folders to everyone."""
    read_only = tmp_path / "read-only"
    read_only.mkdir(mode=0o555)
    if not os.access(read_only, os.W_OK):
        return read_only
    try:
        os.mkdir("/sys/adaptlab-probe")
    except PermissionError:
        return Path("/sys")
    os.rmdir("/sys/adaptlab-probe")
    pytest.skip("no folder here refuses this user a new subfolder")


def test_out_in_a_folder_that_refuses_new_folders(monkeypatch, capsys, unwritable_folder, data):
    out = unwritable_folder / "adaptlab-run"
    code, stderr = adaptlab_train(monkeypatch, capsys, data, out)
    assert code == 2 and f"--out {out}: cannot create the output folder" in stderr
    assert "Traceback" not in stderr and not out.exists()


def test_target_modules_that_match_nothing(monkeypatch, capsys, tmp_path, data):
    code, stderr = adaptlab_train(monkeypatch, capsys, data, tmp_path / "out", "--target-modules", "no_such_proj")
    assert code == 2 and "--target-modules no_such_proj: Target modules {'no_such_proj'} not found" in stderr
    assert "Traceback" not in stderr
