"""Reads run a constant number of SQL statements, whatever the number of versions (issue 11): the
registry loads related rows eagerly instead of one query per version."""

import contextlib
import json

import pytest
from sqlalchemy import Engine, event

VERSIONS_FEW, VERSIONS_MANY = 5, 50


@contextlib.contextmanager
def counted_statements():
    """Counts the SQL statements every engine runs inside the block (those of `Registry.open` included)."""
    statements = []

    def count(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@pytest.fixture
def grow(registry, admin, new_run):
    """`grow(n)`: register versions of acme/bot up to `n`. The first call also approves v1 and v2 and
    moves aliases (production twice), so every relation a listing shows has rows."""
    registry.create_tenant(admin, "acme")
    run = new_run(eval_loss=1.5)
    registered = 0

    def to(count: int) -> None:
        nonlocal registered
        for _ in range(registered, count):
            registry.register(admin, run, "acme/bot", by="trainer-1")
        if not registered:
            for version in (1, 2):
                registry.approve(admin, f"acme/bot@v{version}", "ok", by="reviewer-1")
            for version, alias in ((1, "production"), (2, "production"), (1, "staging")):
                registry.promote(admin, f"acme/bot@v{version}", alias)
        registered = count

    return to


def api_reads(registry, admin) -> None:
    registry.list_models(admin)
    registry.list_versions(admin, "acme/bot")
    registry.alias_history(admin, "acme/bot")
    registry.get_version(admin, "acme/bot@production")


def test_api_reads_run_the_same_statements_for_5_and_50_versions(registry, admin, grow):
    grow(VERSIONS_FEW)
    with counted_statements() as few:
        api_reads(registry, admin)
    grow(VERSIONS_MANY)
    with counted_statements() as many:
        api_reads(registry, admin)
    assert len(registry.list_versions(admin, "acme/bot")) == VERSIONS_MANY
    assert len(many) == len(few), "\n".join(many)
    assert len(few) <= 8 * 4  # at most 8 per read, BEGIN and ROLLBACK included


def test_cli_list_and_show_run_the_same_statements_for_5_and_50_versions(registry, admin, grow, run_cli):
    counts = {}
    for versions in (VERSIONS_FEW, VERSIONS_MANY):
        grow(versions)
        for command in (["list"], ["show", "acme/bot"], ["show", "acme/bot", "--json"]):
            with counted_statements() as statements:
                output = run_cli(*command).output
            counts.setdefault(" ".join(command), []).append(len(statements))
        assert len(json.loads(output)["versions"]) == versions
    assert all(few == many for few, many in counts.values()), counts
