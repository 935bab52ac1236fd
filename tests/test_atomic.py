"""Write-then-rename helpers: whole files and folders under their own names, hidden `.tmp` leftovers otherwise."""

import os

import pytest

from adaptlab import atomic


def test_staging_dir_replaces_an_existing_folder_and_leaves_no_temporaries(tmp_path):
    final = tmp_path / "model"
    for version in ("old", "new"):
        with atomic.staging_dir(final) as staged:
            (staged / "weights").write_text(version)
    assert (final / "weights").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_remove_tree_moves_the_folder_aside_before_deleting_it(tmp_path, monkeypatch):
    folder = tmp_path / "step-00000010"
    folder.mkdir()
    (folder / "weights").write_text("w")
    monkeypatch.setattr(atomic.shutil, "rmtree", lambda path, **kwargs: None)  # as if killed before deleting anything
    atomic.remove_tree(folder)
    [aside] = tmp_path.iterdir()
    assert not folder.exists() and atomic.is_leftover(aside) and (aside / "weights").is_file()


def test_remove_leftovers_drops_hidden_tmp_names_only(tmp_path):
    keep = ["run.json", ".hidden", "notes.tmp"]
    for name in keep:
        (tmp_path / name).write_text("x")
    (tmp_path / ".run.json.ab12.tmp").write_text("{")
    (tmp_path / ".staging-xy.tmp").mkdir()
    (tmp_path / ".staging-xy.tmp" / "adapter_model.safetensors").write_text("half")
    atomic.remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
    atomic.remove_leftovers(tmp_path / "missing")


def test_publish_files_moves_the_markers_last_in_their_order(tmp_path, monkeypatch):
    staged = atomic.make_staging_dir(tmp_path)
    for name in ("run.json", "adapter_config.json", "tokenizer.json", "adapter_model.safetensors"):
        (staged / name).write_text(name)
    moved = []
    real_replace = os.replace
    monkeypatch.setattr(atomic.os, "replace", lambda src, dst: moved.append(os.path.basename(dst)) or real_replace(src, dst))
    atomic.publish_files(staged, tmp_path, last=("adapter_config.json", "config.json", "run.json"))
    assert moved == ["adapter_model.safetensors", "tokenizer.json", "adapter_config.json", "run.json"]
    assert not staged.exists()


def test_write_bytes_leaves_no_temporary_when_writing_fails(tmp_path):
    with pytest.raises(TypeError):
        atomic.write_bytes(tmp_path / "x.json", "not bytes")
    assert list(tmp_path.iterdir()) == []


def test_staging_dir_puts_the_previous_folder_back_when_the_new_one_cannot_take_its_place(tmp_path, monkeypatch):
    final = tmp_path / "model"
    final.mkdir()
    (final / "weights").write_text("old")
    real_replace, calls_onto_final = os.replace, []

    def failing_replace(source, target):
        if os.fspath(target) == os.fspath(final):
            calls_onto_final.append(source)
            if len(calls_onto_final) == 1:  # the new folder's rename fails; putting the old one back works
                raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        with atomic.staging_dir(final) as staged:
            (staged / "weights").write_text("new")
    assert (final / "weights").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]
