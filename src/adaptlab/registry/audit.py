"""The audit chain: each entry's hash covers its content and the previous entry's hash, so an
edited, deleted or reordered entry breaks the chain at (or right after) that entry. Pure functions."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class ChainEntry:
    seq: int
    at: str
    actor: str
    tenant: str | None
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(
    *, seq: int, at: str, actor: str, tenant: str | None, action: str, target: str, before: Any, after: Any, prev_hash: str
) -> str:
    content = {"seq": seq, "at": at, "actor": actor, "tenant": tenant, "action": action, "target": target, "before": before, "after": after}
    return hashlib.sha256((prev_hash + canonical_json(content)).encode("utf-8")).hexdigest()


def first_break(entries: list[ChainEntry], head_seq: int, head_hash: str) -> tuple[int | None, str | None]:
    """(seq of the first bad entry, what is wrong with it), or (None, None) for an intact chain.

    `entries` in stored seq order; `head_seq`/`head_hash` is the last entry as recorded at append
    time, which catches entries deleted from the end.
    """
    expected_seq, prev_hash = 1, GENESIS_HASH
    for entry in entries:
        described = f"audit entry #{entry.seq} ({entry.action} {entry.target} by {entry.actor} at {entry.at})"
        if entry.seq != expected_seq:
            missing = f"#{expected_seq}" if entry.seq == expected_seq + 1 else f"#{expected_seq}..#{entry.seq - 1}"
            return expected_seq, f"audit entry {missing} is missing (the chain jumps to #{entry.seq}): deleted"
        if entry.prev_hash != prev_hash:
            return entry.seq, f"{described} does not follow entry #{entry.seq - 1}: entries were reordered, inserted or deleted here"
        recomputed = entry_hash(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            tenant=entry.tenant,
            action=entry.action,
            target=entry.target,
            before=entry.before,
            after=entry.after,
            prev_hash=entry.prev_hash,
        )
        if recomputed != entry.hash:
            return entry.seq, f"{described} was edited: its content no longer matches its hash"
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    if head_seq != expected_seq - 1 or head_hash != prev_hash:
        if head_seq >= expected_seq:
            return expected_seq, f"audit entries #{expected_seq}..#{head_seq} are missing from the end of the log: deleted"
        return head_seq, f"the audit head (#{head_seq}) does not match the last entry (#{expected_seq - 1}): the head or the log was edited"
    return None, None
