"""The audit log is hash-chained: any edited, deleted or reordered entry is found and named."""

import pytest
from sqlalchemy import text

from adaptlab.registry.audit import GENESIS_HASH, ChainEntry, entry_hash, first_break
from adaptlab.registry.errors import AccessDeniedError


def _chain(length: int) -> list[ChainEntry]:
    entries, prev = [], GENESIS_HASH
    for seq in range(1, length + 1):
        fields = dict(
            seq=seq,
            at=f"2026-01-0{seq}",
            actor="ann",
            tenant="acme",
            action="version.register",
            target=f"acme/bot@v{seq}",
            before=None,
            after={"v": seq},
        )
        digest = entry_hash(**fields, prev_hash=prev)
        entries.append(ChainEntry(**fields, prev_hash=prev, hash=digest))
        prev = digest
    return entries


def test_intact_chain_verifies():
    entries = _chain(4)
    assert first_break(entries, 4, entries[-1].hash) == (None, None)
    assert first_break([], 0, GENESIS_HASH) == (None, None)


def test_pure_chain_names_edit_deletion_reordering_and_truncation():
    entries = _chain(5)
    head = (5, entries[-1].hash)

    edited = list(entries)
    edited[2] = ChainEntry(**{**vars(entries[2]), "actor": "mallory"})
    assert first_break(edited, *head)[0] == 3
    assert "edited" in first_break(edited, *head)[1]

    deleted = entries[:2] + entries[3:]
    assert first_break(deleted, *head) == (3, "audit entry #3 is missing (the chain jumps to #4): deleted")

    swapped = entries[:2] + [ChainEntry(**{**vars(entries[3]), "seq": 3}), ChainEntry(**{**vars(entries[2]), "seq": 4})] + entries[4:]
    seq, problem = first_break(swapped, *head)
    assert seq == 3 and "reordered" in problem

    seq, problem = first_break(entries[:3], *head)
    assert seq == 4 and "#4..#5 are missing from the end" in problem


@pytest.fixture
def busy_registry(registry, admin, new_run):
    """A registry with 7 audit entries: tenant, 2 registrations, approval, promotion, gates, rollback-able promotion."""
    registry.create_tenant(admin, "acme")
    registry.register(admin, new_run(), "acme/bot")
    registry.register(admin, new_run(), "acme/bot")
    registry.approve(admin, "acme/bot@v1", "looked at 20 samples", by="reviewer-1")
    registry.promote(admin, "acme/bot@v1", "production")
    registry.approve(admin, "acme/bot@v2", "fine", by="reviewer-2")
    registry.promote(admin, "acme/bot@v2", "production")
    assert registry.verify_audit(admin).entries_checked == 7
    return registry


def _sql(registry, *statements: str, **values) -> None:
    with registry.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement), values)


def test_database_intact(busy_registry, admin):
    result = busy_registry.verify_audit(admin)
    assert result.ok and result.first_bad_seq is None


def test_edited_row_is_named(busy_registry, admin):
    _sql(busy_registry, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 4")
    result = busy_registry.verify_audit(admin)
    assert not result.ok
    assert result.first_bad_seq == 4
    assert "#4" in result.problem and "edited" in result.problem


def test_edited_before_after_json_is_named(busy_registry, admin):
    _sql(busy_registry, "UPDATE audit_log SET after_json = :forged WHERE seq = 7", forged='{"version":1}')
    assert busy_registry.verify_audit(admin).first_bad_seq == 7
    _sql(busy_registry, "UPDATE audit_log SET before_json = 'not json' WHERE seq = 5")
    assert busy_registry.verify_audit(admin).first_bad_seq == 5


def test_deleted_row_is_named(busy_registry, admin):
    _sql(busy_registry, "DELETE FROM audit_log WHERE seq = 3")
    result = busy_registry.verify_audit(admin)
    assert result.first_bad_seq == 3
    assert "missing" in result.problem


def test_deleted_last_row_is_named(busy_registry, admin):
    _sql(busy_registry, "DELETE FROM audit_log WHERE seq = 7")
    result = busy_registry.verify_audit(admin)
    assert result.first_bad_seq == 7
    assert "missing from the end" in result.problem


def test_reordered_rows_are_named(busy_registry, admin):
    _sql(
        busy_registry,
        "UPDATE audit_log SET seq = -1 WHERE seq = 2",
        "UPDATE audit_log SET seq = 2 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = -1",
    )
    result = busy_registry.verify_audit(admin)
    assert result.first_bad_seq == 2
    assert "reordered" in result.problem


def test_rewritten_hash_is_caught_at_the_next_entry(busy_registry, admin):
    """An attacker who edits entry #4 and recomputes its hash still breaks #5's link."""
    with busy_registry.engine.begin() as connection:
        row = connection.execute(text("SELECT * FROM audit_log WHERE seq = 4")).mappings().one()
        forged = entry_hash(
            seq=4,
            at=row["at"],
            actor="mallory",
            tenant=row["tenant"],
            action=row["action"],
            target=row["target"],
            before=None,
            after={"approver": "mallory", "note": "ok"},
            prev_hash=row["prev_hash"],
        )
        connection.execute(
            text("UPDATE audit_log SET actor = 'mallory', after_json = :after, hash = :h WHERE seq = 4"),
            {"after": '{"approver":"mallory","note":"ok"}', "h": forged},
        )
    result = busy_registry.verify_audit(admin)
    assert result.first_bad_seq == 5 and "does not follow entry #4" in result.problem


def test_entries_record_who_what_when_before_after(busy_registry, admin):
    entries = busy_registry.audit_entries(admin)
    assert [e.seq for e in entries] == list(range(1, 8))
    promotion = entries[-1]
    assert (promotion.actor, promotion.action, promotion.target) == ("ops-admin", "alias.promote", "acme/bot@production")
    assert promotion.before == {"version": 1} and promotion.after == {"version": 2}
    assert entries[3].actor == "reviewer-1" and entries[3].after == {"approver": "reviewer-1", "note": "looked at 20 samples"}
    assert entries[0].at < entries[-1].at
    assert [e.seq for e in busy_registry.audit_entries(admin, limit=2)] == [6, 7]


def test_audit_event_from_other_components_joins_the_chain(busy_registry, admin):
    from adaptlab.registry import Principal, Role

    server = Principal(name="server", role=Role.reader, tenant="acme")
    busy_registry.audit_event(server, "serve.load", "acme/bot@production", after={"version": 2})
    with pytest.raises(AccessDeniedError):
        busy_registry.audit_event(server, "serve.load", "globex/bot@v1", tenant="globex")
    assert busy_registry.audit_entries(admin)[-1].action == "serve.load"
    assert busy_registry.verify_audit(admin).ok
