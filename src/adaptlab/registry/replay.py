"""Replay the audit log into the state it accounts for (tenants, tokens, versions, approvals, alias
history, canaries, gates, review sets and votes, attached reports) and compare that with the tables, so a row
inserted, edited or deleted by SQL behind
the log's back is named. Pure functions; `adaptlab.registry.state` reads the tables' side."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from adaptlab.registry.audit import ChainEntry

REPLAYED_ACTIONS = frozenset(
    {
        "tenant.create",
        "token.create",
        "token.revoke",
        "version.register",
        "version.import",
        "version.approve",
        "alias.promote",
        "alias.rollback",
        "alias.canary_start",
        "alias.canary_share",
        "alias.canary_promote",
        "alias.canary_abort",
        "gates.set",
        "version.attach_report",
        "review.create",
        "review.vote",
    }
)
_CANARY_ENDS = {"alias.canary_promote": "promoted", "alias.canary_abort": "aborted"}

_DESCRIBE = {
    "tenants": lambda key: f"tenant {key[0]}",
    "api_tokens": lambda key: f"API token {key[0]}",
    "versions": lambda key: f"version {key[0]}/{key[1]}@v{key[2]}",
    "approvals": lambda key: f"approval of {key[0]}/{key[1]}@v{key[2]} by {key[3]}",
    "alias_history": lambda key: f"promotion #{key[3]} of {key[0]}/{key[1]}@{key[2]}",
    "models": lambda key: f"gates of {key[0]}/{key[1]}",
    "report_attachments": lambda key: f"report #{key[3]} attached to {key[0]}/{key[1]}@v{key[2]}",
    "review_sets": lambda key: f"review set {key[1]} of {key[0]}",
    "review_votes": lambda key: f"vote of {key[3]} on item {key[2]} of review {key[1]}",
    "alias_canaries": lambda key: f"canary #{key[3]} of {key[0]}/{key[1]}@{key[2]}",
}


REVIEW_SET_VALUES = ("candidate", "baseline", "items", "source_sha256", "items_sha256")
REVIEW_VOTE_VALUES = ("verdict", "comment", "corrected_answer")


@dataclass
class Fact:
    """One row the audit log accounts for: its `table`, identity `key` and audited `values`; `where` names
    the table row (actual state) or the audit entry (replayed state) it comes from."""

    table: str
    key: tuple
    values: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    def describe(self) -> str:
        return _DESCRIBE[self.table](self.key)

    @property
    def tenant(self) -> str:
        return self.values["tenant"] if self.table == "api_tokens" else self.key[0]


def replayed_facts(entries: Iterable[ChainEntry]) -> tuple[dict[tuple, Fact], list[str]]:
    """(the state the log accounts for, by (table, key); entries that cannot be replayed, in words)."""
    facts: dict[tuple, Fact] = {}
    promotions: dict[tuple, list[tuple]] = {}  # (table, tenant, name, alias) -> its alias_history or alias_canaries keys, oldest first
    problems = []
    for entry in entries:
        if entry.action not in REPLAYED_ACTIONS:
            continue
        try:
            fact = _replay(entry, facts, promotions)
            if fact.table in ("alias_history", "alias_canaries") and fact.key not in promotions.setdefault((fact.table, *fact.key[:3]), []):
                promotions[(fact.table, *fact.key[:3])].append(fact.key)
            facts[(fact.table, fact.key)] = fact
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            problems.append(f"audit entry #{entry.seq} ({entry.action} {entry.target}) cannot be replayed: {exc!r}")
    return facts, problems


def differences(replayed: dict[tuple, Fact], actual: Iterable[Fact], tenant: str | None = None) -> list[str]:
    """Every table row (of `tenant`, None: all) the log does not account for, differs from it, or is missing, in words."""
    problems, seen = [], set()
    for fact in actual:
        if tenant not in (None, fact.tenant):
            continue
        seen.add((fact.table, fact.key))
        expected = replayed.get((fact.table, fact.key))
        if expected is None:
            problems.append(f"{fact.where} ({fact.describe()}) is not accounted for by the audit log")
            continue
        for name, value in expected.values.items():
            if fact.values.get(name) != value:
                problems.append(
                    f"{fact.where} ({fact.describe()}) has {name} {fact.values.get(name)!r}, but {expected.where} says {value!r}"
                )
    for key, expected in replayed.items():
        if key not in seen:
            problems.append(f"{expected.where} records {expected.describe()}, but table {expected.table} has no such row")
    return problems


def _replay(entry: ChainEntry, facts: dict[tuple, Fact], promotions: dict[tuple, list[tuple]]) -> Fact:
    where, after = f"audit entry #{entry.seq}", entry.after
    if entry.action == "tenant.create":
        return Fact("tenants", (entry.target,), {}, where)
    if entry.action == "token.create":
        values = {"tenant": entry.tenant, "name": after["name"], "role": after["role"], "revoked": False}
        return Fact("api_tokens", (after["token_id"],), values, where)
    if entry.action == "token.revoke":
        token = facts[("api_tokens", (int(entry.target.removeprefix("token:")),))]
        return Fact("api_tokens", token.key, {**token.values, "revoked": True}, where)
    if entry.action == "gates.set":
        tenant, name = entry.target.split("/")
        return Fact("models", (tenant, name), {"gate_policy": after}, where)
    if entry.action == "review.create":
        values = {"created_by": entry.actor} | {name: after[name] for name in REVIEW_SET_VALUES}
        return Fact("review_sets", (entry.tenant, int(entry.target.removeprefix("review:"))), values, where)
    if entry.action == "review.vote":
        key = (entry.tenant, int(entry.target.removeprefix("review:")), after["item"], entry.actor)
        return Fact("review_votes", key, {name: after[name] for name in REVIEW_VOTE_VALUES}, where)
    (tenant, name), selector = _split_target(entry.target)
    if entry.action in ("version.register", "version.import"):
        values = {"created_by": entry.actor, "run_id": after["run_id"], "files": after["files"]}
        if "metrics" in after:  # entries of older registrations have none: their metrics are not compared
            values["metrics"] = after["metrics"]
        return Fact("versions", (tenant, name, after["version"]), values, where)
    if entry.action == "version.attach_report":
        values = {"files": after["files"], "attached_by": entry.actor}
        return Fact("report_attachments", (tenant, name, int(selector.removeprefix("v")), after["attachment"]), values, where)
    if entry.action == "version.approve":
        return Fact("approvals", (tenant, name, int(selector.removeprefix("v")), after["approver"]), {"note": after["note"]}, where)
    if entry.action.startswith("alias.canary_"):
        return _replay_canary(entry, facts, promotions.get(("alias_canaries", tenant, name, selector), []))
    history = promotions.get(("alias_history", tenant, name, selector), [])
    if entry.action == "alias.promote":
        values = {"version": after["version"], "assigned_by": entry.actor, "rolled_back": False, "rolled_back_by": None}
        return Fact("alias_history", (tenant, name, selector, len(history) + 1), values, where)
    # alias.rollback: the newest promotion not rolled back yet is
    current = [facts[("alias_history", key)] for key in history if not facts[("alias_history", key)].values["rolled_back"]][-1]
    values = {**current.values, "rolled_back": True, "rolled_back_by": entry.actor}
    return Fact("alias_history", current.key, values, f"{current.where} (rolled back by #{entry.seq})")


def _replay_canary(entry: ChainEntry, facts: dict[tuple, Fact], canaries: list[tuple]) -> Fact:
    (tenant, name), alias = _split_target(entry.target)
    where, after = f"audit entry #{entry.seq}", entry.after
    if entry.action == "alias.canary_start":
        values = {
            "stable": after["stable"],
            "candidate": after["candidate"],
            "share_percent": after["share_percent"],
            "started_by": entry.actor,
            "outcome": None,
            "ended_by": None,
        }
        return Fact("alias_canaries", (tenant, name, alias, len(canaries) + 1), values, where)
    running = facts[("alias_canaries", canaries[-1])]
    if entry.action == "alias.canary_share":
        return Fact("alias_canaries", running.key, {**running.values, "share_percent": after["share_percent"]}, where)
    return Fact("alias_canaries", running.key, {**running.values, "outcome": _CANARY_ENDS[entry.action], "ended_by": entry.actor}, where)


def _split_target(target: str) -> tuple[tuple[str, str], str]:
    """`tenant/name@selector` -> ((tenant, name), selector)."""
    model, _, selector = target.rpartition("@")
    tenant, name = model.split("/")
    return (tenant, name), selector
