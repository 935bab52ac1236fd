"""Open the registry database (SQLite by default, PostgreSQL by URL) and bring its schema to the
newest Alembic migration. Write transactions are serialised: `BEGIN IMMEDIATE` on SQLite, a row
lock on `audit_head` on PostgreSQL (taken by the service at the start of each write)."""

from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

from adaptlab.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_S = 60
WRITE_OPTION = "adaptlab_registry_write"
_MIGRATION_LOCK_ID = 0x616461707462  # any constant; pg_advisory_xact_lock key for schema upgrades


def database_url(db: str | None, registry_dir: Path) -> str:
    """`--db` as given (postgresql:// means psycopg 3), or the SQLite file inside the registry folder."""
    if not db:
        return f"sqlite:///{(registry_dir / 'registry.db').resolve()}"
    try:
        url = make_url(db)
    except ArgumentError as exc:
        raise ConfigError(f"--db {db!r} is not a database URL (expected sqlite:///path or postgresql://user:pass@host/db): {exc}") from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(f"--db {db!r}: only sqlite and postgresql databases are supported")
    return url.render_as_string(hide_password=False)


def open_engine(url: str) -> Engine:
    """An engine with the schema at the newest migration."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    try:
        upgrade_schema(engine)
    except OperationalError as exc:
        engine.dispose()
        raise ConfigError(f"cannot open the registry database {make_url(url).render_as_string()}: {exc.orig}") from exc
    return engine


def write_engine(engine: Engine) -> Engine:
    """The same engine, but its transactions take the write lock as they begin (SQLite)."""
    return engine.execution_options(**{WRITE_OPTION: True})


def alembic_config(connection=None):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_schema(engine: Engine) -> None:
    """Run pending migrations under a lock, so concurrent first opens do not race."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with engine.connect() as connection:
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
    with write_engine(engine).begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_ID})
        command.upgrade(alembic_config(connection), "head")


def _sqlite_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(connection) -> None:
    immediate = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
