"""Registry fixtures. `registry_location` (and `registry`, opened on it) is parametrised over SQLite
and PostgreSQL; the PostgreSQL variant needs ADAPTLAB_TEST_POSTGRES_URL (scripts/ci_postgres.sh prints it)."""

import functools
import itertools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adaptlab.models import ResolvedModel
from adaptlab.registry import Registry, local_admin
from adaptlab.registry import cli as registry_cli

from .runs import make_run, save_lora_adapter, write_dataset

POSTGRES_ENV = "ADAPTLAB_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class RegistryLocation:
    root: Path
    db: str | None  # None: the SQLite file inside root

    def open(self) -> Registry:
        return Registry.open(self.root, db=self.db)


@pytest.fixture(params=["sqlite", "postgres"])
def registry_location(request, tmp_path: Path):
    if request.param == "sqlite":
        yield RegistryLocation(tmp_path / "registry", None)
        return
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL is not available (run scripts/ci_postgres.sh to install and start one)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        yield RegistryLocation(tmp_path / "registry", scoped)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def registry(registry_location: RegistryLocation):
    with registry_location.open() as opened:
        yield opened


@pytest.fixture
def admin():
    return local_admin("ops-admin")


@pytest.fixture(scope="session")
def lora_adapters(tiny_model: ResolvedModel, tmp_path_factory):
    """`lora_adapters(seed)` -> a saved LoRA adapter whose weights differ per seed (each saved once)."""
    root = tmp_path_factory.mktemp("adapters")
    return functools.cache(lambda seed: save_lora_adapter(tiny_model, root / f"seed{seed}", seed=seed))


@pytest.fixture(scope="session")
def dataset_files(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture
def new_run(lora_adapters, tiny_model: ResolvedModel, dataset_files, tmp_path: Path):
    """`new_run(eval_loss=..., evaluation={...})` -> a fresh completed run folder; runs share their adapter
    weights and data files unless `adapter_seed` / `data_files` say otherwise."""
    counter = itertools.count()

    def make(adapter_seed: int = 0, data_files=None, **options) -> Path:
        out = tmp_path / "runs" / f"run{next(counter)}"
        return make_run(lora_adapters(adapter_seed), tiny_model, data_files or dataset_files, out, **options)

    return make


@pytest.fixture
def run_cli(registry_location):
    """`run_cli(*args, ok=True)`: `adaptlab registry ARGS --registry ... [--db ...]` in-process; asserts exit 0 unless `ok=False`."""
    app = typer.Typer()
    registry_cli.register(app)
    app.callback()(lambda: None)
    runner = CliRunner(env={"COLUMNS": "250", "ADAPTLAB_TOKEN": None, "ADAPTLAB_TENANT": None})
    where = ["--registry", str(registry_location.root)] + (["--db", registry_location.db] if registry_location.db else [])

    def run(*args: str, ok: bool = True):
        result = runner.invoke(app, ["registry", *args, *where])
        if ok:
            assert result.exit_code == 0, (result.output, result.exception)
        return result

    return run
