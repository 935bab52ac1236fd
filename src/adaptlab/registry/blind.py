"""Blind review: each reviewer sees an item's two answers as A and B, in an order drawn per item and per
reviewer, keyed by a secret of the review set so that nobody can work it out; the same reviewer always
gets the same order for an item (a reload shows what they saw). Votes are mapped back here. Pure functions."""

import hashlib
import hmac
import secrets

from adaptlab.registry.entities import BlindVerdict
from adaptlab.schemas.review import Verdict

_UNBLIND: dict[tuple[BlindVerdict, bool], Verdict] = {
    ("a", True): "candidate",
    ("b", True): "baseline",
    ("a", False): "baseline",
    ("b", False): "candidate",
}


def new_salt() -> str:
    return secrets.token_hex(32)


def candidate_shown_first(salt: str, item_id: int, reviewer: str) -> bool:
    """Whether `reviewer` sees the candidate's answer as A on this item: a keyed hash, so random-looking across
    items and reviewers, stable for each pair."""
    digest = hmac.new(salt.encode("utf-8"), f"{item_id}\x00{reviewer}".encode("utf-8"), hashlib.sha256).digest()
    return digest[0] & 1 == 0


def shown_answers(candidate_answer: str, baseline_answer: str, candidate_first: bool) -> tuple[str, str]:
    """(answer A, answer B)."""
    return (candidate_answer, baseline_answer) if candidate_first else (baseline_answer, candidate_answer)


def unblind(verdict: BlindVerdict, candidate_first: bool) -> Verdict:
    """What a reviewer's A/B verdict says about the candidate and the baseline."""
    return _UNBLIND.get((verdict, candidate_first), verdict)  # tie and both_bad are the same either way


def blind(verdict: Verdict, candidate_first: bool) -> BlindVerdict:
    """A stored verdict in the terms the reviewer saw it."""
    return next((shown for (shown, first), meant in _UNBLIND.items() if first == candidate_first and meant == verdict), verdict)
