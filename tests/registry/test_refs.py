"""Addresses: [tenant/]name[@vN|@alias]. Fuzzed: no text gets past the parser with a newline, a space
or a control character, and nothing but a ConfigError ever comes out of it."""

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adaptlab.errors import ConfigError
from adaptlab.registry.refs import ModelRef, VersionRef, check_alias, check_name, parse_model_ref, parse_version_ref


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


@pytest.mark.parametrize(
    "text", ["acme/bot\n", "acme\n/bot", "acme/bot\n@v1", "acme/bot@v1\n", "acme/bot@production\n", " acme/bot", "acme/bot@v1 "]
)
def test_a_trailing_newline_or_space_is_refused_everywhere(text):
    with pytest.raises(ConfigError):
        parse_version_ref(text, None)


def test_single_parts_need_a_full_match():
    with pytest.raises(ConfigError, match=r"'evil\\n' is not a valid name"):
        check_name("tenant", "evil\n")
    with pytest.raises(ConfigError, match="not valid"):
        check_alias("production\n")
    with pytest.raises(ConfigError, match=r"tenant '\\n' is not a valid name"):
        parse_model_ref("bot", "\n")


def test_huge_version_numbers_are_refused_not_overflowed():
    with pytest.raises(ConfigError):
        parse_version_ref("acme/bot@v99999999999999999999", None)


NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)
ALIASES = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True).filter(lambda a: a != "latest" and not a[1:].isdigit())
SELECTORS = st.one_of(st.just(""), st.integers(1, 10**6).map(lambda n: f"@v{n}"), ALIASES.map(lambda a: f"@{a}"))
LOOKALIKES = st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"])


@given(st.text(), st.one_of(st.none(), st.text()))
@example("acme/bot\n", None)
@example("bot@production\n", "acme")
def test_any_text_parses_or_raises_a_config_error(text, default_tenant):
    try:
        ref = parse_version_ref(text, default_tenant)
    except ConfigError:
        return
    for part in (text, ref.model.tenant, ref.model.name, ref.alias or ""):
        assert all(char.isprintable() and not char.isspace() for char in part), part
    assert parse_version_ref(str(ref), None) == ref


@given(NAMES, NAMES, SELECTORS)
def test_valid_refs_round_trip(tenant, name, selector):
    text = f"{tenant}/{name}{selector}"
    ref = parse_version_ref(text, None)
    assert (ref.model.tenant, ref.model.name) == (tenant, name)
    assert str(ref) == text


@given(NAMES, NAMES, SELECTORS, LOOKALIKES, st.integers(min_value=0))
@example("acme", "bot", "@v1", "\n", -1)
def test_a_control_or_space_character_anywhere_is_refused(tenant, name, selector, char, where):
    text = f"{tenant}/{name}{selector}"
    where %= len(text) + 1
    with pytest.raises(ConfigError):
        parse_version_ref(text[:where] + char + text[where:], None)
