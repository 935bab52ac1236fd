"""Registry fixtures. `registry_location` (and `registry`, opened on it) is parametrised over SQLite
and PostgreSQL; the PostgreSQL variant needs ADAPTLAB_TEST_POSTGRES_URL (scripts/ci_postgres.sh prints it)."""

import itertools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from adaptlab.models import ResolvedModel
from adaptlab.registry import Registry, local_admin

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
def lora_adapter(tiny_model: ResolvedModel, tmp_path_factory) -> Path:
    return save_lora_adapter(tiny_model, tmp_path_factory.mktemp("adapter") / "lora")


@pytest.fixture(scope="session")
def dataset_files(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture
def new_run(lora_adapter: Path, tiny_model: ResolvedModel, dataset_files, tmp_path: Path):
    """`new_run(eval_loss=..., evaluation={...})` -> a fresh completed run folder."""
    counter = itertools.count()

    def make(**options) -> Path:
        return make_run(lora_adapter, tiny_model, dataset_files, tmp_path / "runs" / f"run{next(counter)}", **options)

    return make
