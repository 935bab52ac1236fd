"""Addresses: [tenant/]name[@vN|@alias]."""

import pytest

from adaptlab.errors import ConfigError
from adaptlab.registry.refs import ModelRef, VersionRef, parse_model_ref, parse_version_ref


def test_version_refs():
    bot = ModelRef("acme", "support-bot")
    assert parse_version_ref("acme/support-bot@v3", None) == VersionRef(bot, version=3)
    assert parse_version_ref("support-bot@production", "acme") == VersionRef(bot, alias="production")
    assert parse_version_ref("support-bot", "acme") == VersionRef(bot)
    assert parse_version_ref("acme/support-bot@latest", "other") == VersionRef(bot)
    assert str(VersionRef(bot, version=3)) == "acme/support-bot@v3"


@pytest.mark.parametrize("text", ["support-bot@v3", "acme/bot@v0", "acme/bot@V3", "acme/../bot", "acme/", "acme/bot@"])
def test_bad_refs_say_what_is_wrong(text):
    with pytest.raises(ConfigError):
        parse_version_ref(text, None)


def test_model_ref_refuses_a_selector():
    with pytest.raises(ConfigError, match="without @version"):
        parse_model_ref("acme/bot@v1", None)
