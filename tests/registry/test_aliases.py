"""Aliases point at versions; their history is kept, and rollback returns to the previous target exactly."""

import pytest

from adaptlab.registry import GatePolicy
from adaptlab.registry.errors import RegistryError


@pytest.fixture
def bot(registry, admin, new_run):
    """acme/bot with versions 1..4 and no approval gate."""
    registry.create_tenant(admin, "acme")
    registry.set_gates(admin, "acme/bot", GatePolicy(required_approvals=0))
    for _ in range(4):
        registry.register(admin, new_run(), "acme/bot")
    return registry


def _points_at(registry, admin, alias: str) -> int:
    return registry.get_version(admin, f"acme/bot@{alias}").version


def test_rollback_returns_to_previous_targets_in_order(bot, admin):
    for version in (1, 2, 3):
        bot.promote(admin, f"acme/bot@v{version}", "production")
    assert _points_at(bot, admin, "production") == 3

    change = bot.rollback(admin, "acme/bot", "production")
    assert (change.from_version, change.to_version) == (3, 2)
    assert _points_at(bot, admin, "production") == 2
    assert bot.rollback(admin, "acme/bot", "production").to_version == 1
    with pytest.raises(RegistryError, match="points at v1 only; there is no earlier version"):
        bot.rollback(admin, "acme/bot", "production")


def test_rollback_after_a_rollback_and_a_new_promotion(bot, admin):
    bot.promote(admin, "acme/bot@v1", "production")
    bot.promote(admin, "acme/bot@v2", "production")
    bot.rollback(admin, "acme/bot", "production")  # back to v1; v2's assignment is undone
    bot.promote(admin, "acme/bot@v4", "production")
    assert bot.rollback(admin, "acme/bot", "production").to_version == 1


def test_history_is_kept_and_aliases_are_independent(bot, admin):
    bot.promote(admin, "acme/bot@v1", "production")
    bot.promote(admin, "acme/bot@v2", "staging")
    bot.promote(admin, "acme/bot@v2", "production")
    bot.rollback(admin, "acme/bot", "production")

    history = bot.alias_history(admin, "acme/bot")
    assert [(e.alias, e.version, e.rolled_back_at is not None) for e in history] == [
        ("production", 1, False),
        ("staging", 2, False),
        ("production", 2, True),
    ]
    assert history[2].rolled_back_by == "ops-admin"
    assert [e.version for e in bot.alias_history(admin, "acme/bot", alias="staging")] == [2]
    assert _points_at(bot, admin, "staging") == 2
    assert bot.get_version(admin, "acme/bot@v1").aliases == ["production"]
    assert bot.get_version(admin, "acme/bot@v2").aliases == ["staging"]
    summary = bot.list_models(admin, "acme")[0]
    assert summary.aliases == {"production": 1, "staging": 2} and summary.latest_version == 4


def test_promoting_the_current_target_changes_nothing(bot, admin):
    bot.promote(admin, "acme/bot@v3", "production")
    entries = len(bot.audit_entries(admin))
    change = bot.promote(admin, "acme/bot@v3", "production")
    assert not change.changed and change.from_version == change.to_version == 3
    assert len(bot.audit_entries(admin)) == entries
    assert len(bot.alias_history(admin, "acme/bot")) == 1


def test_promote_by_alias_and_rollback_of_unset_alias(bot, admin):
    bot.promote(admin, "acme/bot@v2", "staging")
    bot.promote(admin, "acme/bot@staging", "production")
    assert _points_at(bot, admin, "production") == 2
    with pytest.raises(RegistryError, match="was never set"):
        bot.rollback(admin, "acme/bot", "canary")


def test_alias_names_are_checked(bot, admin):
    from adaptlab.errors import ConfigError

    for bad in ("v2", "latest", "Prod", "has space"):
        with pytest.raises(ConfigError, match="alias"):
            bot.promote(admin, "acme/bot@v1", bad)
