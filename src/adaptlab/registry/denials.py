"""Refusals in the audit log, aggregated: a denial identical to one recorded in the last
`DENIAL_WINDOW_S` (same actor, tenant, action, target and details) adds one to that row's
`occurrences` instead of appending a row, so retrying a refused request cannot flood the log.
A denial is any audit action ending in `.denied` (`cli.denied`, `serve.denied`, ...)."""

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from adaptlab.registry.tables import AuditRow

DENIAL_SUFFIX = ".denied"
DENIAL_WINDOW_S = 60


def is_denial(action: str) -> bool:
    return action.endswith(DENIAL_SUFFIX)


def window_start(now: str, window_s: float = DENIAL_WINDOW_S) -> str:
    """The ISO time `window_s` before `now` (same format, so the strings compare like the times)."""
    return (datetime.fromisoformat(now) - timedelta(seconds=window_s)).isoformat(timespec="microseconds")


def repeat_of(session: Session, *, actor: str, tenant: str | None, action: str, target: str, after_json: str, now: str) -> AuditRow | None:
    """The row an identical denial at `now` is a repeat of, if one was recorded within the window."""
    return session.scalar(
        select(AuditRow)
        .where(
            AuditRow.actor == actor,
            AuditRow.action == action,
            AuditRow.tenant.is_not_distinct_from(tenant),
            AuditRow.target == target,
            AuditRow.after_json == after_json,
            AuditRow.at >= window_start(now),
        )
        .order_by(AuditRow.seq.desc())
        .limit(1)
    )
