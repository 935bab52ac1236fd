"""Promotion gates: metric thresholds, approval counts, approvers distinct from the registrant."""

import pytest

from adaptlab.registry import GatePolicy, Principal, Role
from adaptlab.registry.errors import AccessDeniedError, GateRefusedError, RegistryError
from adaptlab.registry.gates import failed_gates

STRICT = GatePolicy(min_metrics={"relative_score": 95}, max_metrics={"forgetting_percent": 5}, required_approvals=2)


def test_pure_gates_pass_and_fail_with_reasons():
    good = {"relative_score": 97.0, "forgetting_percent": 1.0}
    assert failed_gates(STRICT, good, ["bo", "cy"], registrant="ann") == []
    assert failed_gates(STRICT, {"relative_score": 95.0, "forgetting_percent": 5.0}, ["bo", "cy"], "ann") == []
    assert failed_gates(STRICT, {"relative_score": 94.9, "forgetting_percent": 5.1}, ["bo", "cy"], "ann") == [
        "metric relative_score: 94.9 (needs ≥ 95)",
        "metric forgetting_percent: 5.1 (needs ≤ 5)",
    ]
    missing = failed_gates(STRICT, {"relative_score": 99.0}, ["bo", "cy"], "ann")
    assert len(missing) == 1 and missing[0].startswith("metric forgetting_percent: missing") and "evaluation.json" in missing[0]
    assert failed_gates(STRICT, good, ["bo", "bo", "ann"], "ann") == ["approvals: 1 of 2 required from someone other than the registrant"]
    lenient = STRICT.model_copy(update={"approvers_distinct_from_registrant": False})
    assert failed_gates(lenient, good, ["bo", "ann"], "ann") == []


def test_policy_alias_scope():
    assert GatePolicy().guards("anything")
    scoped = GatePolicy(aliases=["production"])
    assert scoped.guards("production") and not scoped.guards("staging")


@pytest.fixture
def acme(registry, admin):
    registry.create_tenant(admin, "acme")
    return registry


def test_refused_promotion_names_each_failed_gate_and_is_audited(acme, admin, new_run):
    acme.set_gates(admin, "acme/bot", STRICT)
    acme.register(admin, new_run(evaluation={"relative_score": 91.0, "forgetting_percent": 8.0}), "acme/bot", by="ann")
    acme.approve(admin, "acme/bot@v1", "spot-checked", by="bo")

    with pytest.raises(GateRefusedError) as refused:
        acme.promote(admin, "acme/bot@v1", "production")
    assert refused.value.failures == [
        "metric relative_score: 91 (needs ≥ 95)",
        "metric forgetting_percent: 8 (needs ≤ 5)",
        "approvals: 1 of 2 required from someone other than the registrant",
    ]
    assert "acme/bot@v1" in str(refused.value) and "production" in str(refused.value)
    last = acme.audit_entries(admin)[-1]
    assert last.action == "alias.promote_refused" and last.after == {"failed_gates": refused.value.failures}
    assert acme.get_version(admin, "acme/bot@v1").aliases == []
    assert acme.verify_audit(admin).ok


def test_promotion_passes_when_every_gate_holds(acme, admin, new_run):
    acme.set_gates(admin, "acme/bot", STRICT)
    acme.register(admin, new_run(evaluation={"relative_score": 96.0, "forgetting_percent": 2.0}), "acme/bot", by="ann")
    acme.approve(admin, "acme/bot@v1", "ok", by="bo")
    with pytest.raises(GateRefusedError, match="approvals: 1 of 2"):
        acme.promote(admin, "acme/bot@v1", "production")
    acme.approve(admin, "acme/bot@v1", "ok too", by="cy")
    change = acme.promote(admin, "acme/bot@v1", "production")
    assert (change.from_version, change.to_version, change.changed) == (None, 1, True)
    assert acme.get_version(admin, "acme/bot@production").version == 1


def test_gates_can_guard_only_some_aliases(acme, admin, new_run):
    acme.set_gates(admin, "acme/bot", STRICT.model_copy(update={"aliases": ["production"]}))
    acme.register(admin, new_run(), "acme/bot")
    assert acme.promote(admin, "acme/bot@v1", "staging").changed
    with pytest.raises(GateRefusedError):
        acme.promote(admin, "acme/bot@v1", "production")


def test_default_policy_needs_one_approval_by_someone_else(acme, admin, new_run):
    acme.register(admin, new_run(), "acme/bot", by="ann")
    assert acme.get_gates(admin, "acme/bot") == GatePolicy()
    with pytest.raises(GateRefusedError, match="approvals: 0 of 1"):
        acme.promote(admin, "acme/bot@v1", "production")
    with pytest.raises(AccessDeniedError, match="ann registered acme/bot@v1 and may not approve it"):
        acme.approve(admin, "acme/bot@v1", "my own work", by="ann")
    acme.approve(admin, "acme/bot@v1", "ok", by="bo")
    with pytest.raises(RegistryError, match="already approved by bo"):
        acme.approve(admin, "acme/bot@v1", "again", by="bo")
    assert acme.promote(admin, "acme/bot@v1", "production").to_version == 1


def test_approver_tokens_count_as_distinct_people(acme, admin, new_run):
    trainer = acme.authenticate(acme.create_token(admin, "acme", Role.trainer, "ann"))
    approver = acme.authenticate(acme.create_token(admin, "acme", Role.approver, "bo"))
    acme.register(trainer, new_run(), "bot")
    with pytest.raises(AccessDeniedError, match="role trainer"):
        acme.approve(trainer, "bot@v1", "self")
    acme.approve(approver, "bot@v1", "reviewed")
    assert acme.promote(approver, "bot@v1", "production").changed
    with pytest.raises(AccessDeniedError, match="only a local administrator may act for someone else"):
        acme.approve(approver, "bot@v1", "as someone else", by="cy")


def test_approve_and_promote_need_an_explicit_version(acme, admin, new_run):
    acme.register(admin, new_run(), "acme/bot")
    with pytest.raises(Exception, match="say which version to approve"):
        acme.approve(admin, "acme/bot", "x", by="bo")
    with pytest.raises(Exception, match="say which version to promote"):
        acme.promote(admin, "acme/bot", "production")


def test_gate_changes_are_audited_with_before_and_after(acme, admin):
    reader = Principal("rita", Role.reader, "acme")
    acme.set_gates(admin, "acme/bot", STRICT)
    with pytest.raises(AccessDeniedError):
        acme.set_gates(reader, "acme/bot", GatePolicy(required_approvals=0))
    entry = acme.audit_entries(admin)[-1]
    assert entry.action == "gates.set"
    assert entry.before == GatePolicy().model_dump() and entry.after == STRICT.model_dump()
