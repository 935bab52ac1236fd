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


def test_replayed_state_matches_the_tables(busy_registry, admin):
    busy_registry.rollback(admin, "acme/bot", "production")
    busy_registry.create_token(admin, "acme", "reader", "rita")
    busy_registry.revoke_token(admin, busy_registry.list_tokens(admin, "acme")[0].id)
    result = busy_registry.verify_audit(admin)
    assert result.ok and result.unaccounted == []


def _version_id(registry, version: int) -> int:
    with registry.engine.connect() as connection:
        return connection.execute(text("SELECT id FROM versions WHERE version = :v"), {"v": version}).scalar_one()


def test_an_approval_inserted_by_sql_is_named(busy_registry, admin):
    _sql(
        busy_registry,
        "INSERT INTO approvals (version_id, approver, note, created_at) VALUES (:v, 'mallory', 'lgtm', '2026-12-01T00:00:00')",
        v=_version_id(busy_registry, 1),
    )
    assert [a.approver for a in busy_registry.get_version(admin, "acme/bot@v1").approvals] == ["reviewer-1", "mallory"]
    result = busy_registry.verify_audit(admin)
    assert not result.ok and result.first_bad_seq is None
    assert len(result.unaccounted) == 1
    assert (
        result.unaccounted[0].startswith("approvals row ")
        and "(approval of acme/bot@v1 by mallory) is not accounted for" in result.unaccounted[0]
    )


def test_an_alias_history_row_edited_by_sql_is_named(busy_registry, admin):
    _sql(
        busy_registry,
        "UPDATE alias_history SET version_id = :v1 WHERE version_id = :v2",
        v1=_version_id(busy_registry, 1),
        v2=_version_id(busy_registry, 2),
    )
    assert busy_registry.get_version(admin, "acme/bot@production").version == 1
    [problem] = busy_registry.verify_audit(admin).unaccounted
    assert "(promotion #2 of acme/bot@production) has version 1, but audit entry #7 says 2" in problem


def test_rows_added_edited_or_deleted_behind_the_log_are_all_named(busy_registry, admin):
    _sql(
        busy_registry,
        "INSERT INTO api_tokens (token_sha256, name, role, tenant_id, created_at, created_by) "
        "VALUES (:sha, 'backdoor', 'admin', (SELECT id FROM tenants WHERE name = 'acme'), '2026-12-01', 'nobody')",
        "UPDATE models SET gate_policy_json = '{\"required_approvals\": 0}'",
        "UPDATE alias_history SET rolled_back_at = '2026-12-01' WHERE version_id = :v2",
        "DELETE FROM approvals WHERE approver = 'reviewer-2'",
        sha="0" * 64,
        v2=_version_id(busy_registry, 2),
    )
    _sql(busy_registry, "UPDATE versions SET metrics_json = :forged WHERE version = 2", forged='{"relative_score": 99.0}')
    problems = "\n".join(busy_registry.verify_audit(admin).unaccounted)
    assert "(version acme/bot@v2) has metrics {'relative_score': 99.0}, but audit entry #3 says {" in problems
    assert "(API token 1) is not accounted for" in problems
    assert "(gates of acme/bot) is not accounted for" in problems
    assert "has rolled_back True, but audit entry #7 says False" in problems
    assert "records approval of acme/bot@v2 by reviewer-2, but table approvals has no such row" in problems


def test_registry_actions_cannot_be_forged_through_audit_event(busy_registry, admin):
    from adaptlab.errors import ConfigError

    with pytest.raises(ConfigError, match="version.approve"):
        busy_registry.audit_event(admin, "version.approve", "acme/bot@v2", after={"approver": "mallory", "note": "x"})


def test_repeated_identical_denials_become_one_row_with_a_count(busy_registry, admin):
    from adaptlab.registry import Principal, Role

    reader = Principal(name="acme/rita", role=Role.reader, tenant="acme")
    for _ in range(100):
        busy_registry.audit_event(reader, "serve.denied", "globex/bot@v1", after={"reason": "another tenant"})
    busy_registry.audit_event(reader, "serve.denied", "globex/bot@v2", after={"reason": "another tenant"})
    busy_registry.audit_event(reader, "serve.load", "acme/bot@v1")
    busy_registry.audit_event(reader, "serve.load", "acme/bot@v1")
    entries = busy_registry.audit_entries(admin)
    assert [(e.action, e.target, e.occurrences) for e in entries[7:]] == [
        ("serve.denied", "globex/bot@v1", 100),
        ("serve.denied", "globex/bot@v2", 1),
        ("serve.load", "acme/bot@v1", 1),
        ("serve.load", "acme/bot@v1", 1),
    ]
    assert entries[7].last_at > entries[7].at
    assert busy_registry.verify_audit(admin).ok


def test_a_denial_after_the_window_gets_a_new_row(busy_registry, admin):
    from adaptlab.registry import Principal, Role

    reader = Principal(name="acme/rita", role=Role.reader, tenant="acme")
    busy_registry.audit_event(reader, "serve.denied", "globex/bot@v1", after={"reason": "another tenant"})
    _sql(busy_registry, "UPDATE audit_log SET at = '2000-01-01T00:00:00.000000+00:00' WHERE seq = 8")
    busy_registry.audit_event(reader, "serve.denied", "globex/bot@v1", after={"reason": "another tenant"})
    assert [e.occurrences for e in busy_registry.audit_entries(admin)[7:]] == [1, 1]


def test_versions_audited_before_metrics_were_recorded_are_compared_without_them():
    from adaptlab.registry.replay import Fact, differences, replayed_facts

    after = {"version": 1, "run_id": "run-1", "files": {"run.json": "ab" * 32}}
    entry = ChainEntry(1, "2026-01-01", "ann", "acme", "version.register", "acme/bot@v1", None, after, GENESIS_HASH, "0" * 64)
    replayed, problems = replayed_facts([entry])
    row = Fact(
        "versions", ("acme", "bot", 1), {"created_by": "ann", "run_id": "run-1", "files": after["files"], "metrics": {"x": 1.0}}, "row 1"
    )
    assert problems == [] and differences(replayed, [row]) == []
    edited = Fact("versions", ("acme", "bot", 1), {**row.values, "run_id": "run-2"}, "row 1")
    assert differences(replayed, [edited]) == ["row 1 (version acme/bot@v1) has run_id 'run-2', but audit entry #1 says 'run-1'"]
