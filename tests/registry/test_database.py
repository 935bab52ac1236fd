"""The schema comes from Alembic migrations, matches the ORM tables, and is opened safely by many processes."""

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adaptlab.errors import ConfigError
from adaptlab.registry import local_admin
from adaptlab.registry.database import database_url
from adaptlab.registry.tables import Base

OPENER = (
    "import sys; from adaptlab.registry import Registry; Registry.open(sys.argv[1], db=sys.argv[2] if len(sys.argv) > 2 else None).close()"
)


def test_migrations_match_the_tables(registry):
    with registry.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, Base.metadata) == []
        assert context.get_current_revision() == "0006"


def test_concurrent_first_opens_migrate_once(registry_location):
    args = [str(registry_location.root)] + ([registry_location.db] if registry_location.db else [])
    openers = [subprocess.Popen([sys.executable, "-c", OPENER, *args], stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for process in openers:
        assert process.wait(timeout=60) == 0, process.stderr.read()
    with registry_location.open() as registry:
        assert registry.verify_audit(local_admin()).ok


def test_database_urls(tmp_path):
    assert database_url(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/registry.db"
    assert database_url("postgresql://u:p@h/db", tmp_path) == "postgresql+psycopg://u:p@h/db"
    with pytest.raises(ConfigError, match="only sqlite and postgresql"):
        database_url("mysql://u@h/db", tmp_path)
    with pytest.raises(ConfigError, match="not a database URL"):
        database_url("not a url", tmp_path)


def test_a_registry_at_the_first_migration_upgrades_with_its_audit_log_intact(tmp_path):
    from alembic import command
    from sqlalchemy import create_engine, inspect

    from adaptlab.registry import Registry
    from adaptlab.registry.database import alembic_config

    root = tmp_path / "registry"
    root.mkdir()
    engine = create_engine(database_url(None, root))
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    engine.dispose()
    with Registry.open(root) as registry:  # 0001 -> head, then one entry
        registry.create_tenant(local_admin(), "acme")
    engine = create_engine(database_url(None, root))
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
        assert "occurrences" not in {column["name"] for column in inspect(connection).get_columns("audit_log")}
    engine.dispose()
    with Registry.open(root) as registry:
        [entry] = registry.audit_entries(local_admin())
        assert (entry.action, entry.occurrences, entry.last_at) == ("tenant.create", 1, None)
        assert registry.verify_audit(local_admin()).ok
