"""Shared fixtures: an isolated cache per session, the built-in tiny model, and paths to ../shared/data."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SERVE_TESTS = "tests/serve"


def pytest_configure(config):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # rich reads COLUMNS when a Console is made, and the CLI modules make theirs on import: fix the width before any
    # import, so that tables are as wide whichever test (or xdist worker) imports a CLI first
    os.environ.setdefault("COLUMNS", "250")
    share_cores_between_workers()
    if config.getoption("numprocesses", None) and "PYTEST_XDIST_WORKER" not in os.environ:
        # built once here, before the xdist workers start, so that they do not all build the same cached folder
        from adaptlab.models import resolve_model

        resolve_model("builtin:tiny")


def share_cores_between_workers() -> None:
    """Each xdist worker (and the training or serving subprocesses it starts) gets its share of the cores as torch
    threads: with every worker at the default of one thread per core, OpenMP threads spin against each other and a
    SmolLM2 step ran 30x slower on 2 cores than in a serial run."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        os.environ["OMP_NUM_THREADS"] = str(max(1, cores // workers))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Under `--dist loadgroup` each test file runs on one worker, so its module-scoped fixtures are built once,
    and the serve tests, which share one session-scoped server, run on one worker; an explicit xdist_group wins."""
    for item in items:
        if not any(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(worker_group(item.nodeid)))


def worker_group(nodeid: str) -> str:
    file = nodeid.split("::")[0]
    return SERVE_TESTS if file.startswith(SERVE_TESTS + "/") else file


@pytest.fixture(scope="session")
def tiny_model():
    from adaptlab.models import resolve_model

    return resolve_model("builtin:tiny")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the repository in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pickle_only_base(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with its weights in pytorch_model.bin only (as older hub models ship), tied weights shared."""
    import torch

    from adaptlab.models import load_causal_lm, load_tokenizer

    folder = tmp_path_factory.mktemp("pickle-only-base")
    model = load_causal_lm(tiny_model.path)
    model.config.save_pretrained(folder)
    load_tokenizer(tiny_model.path).save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder
