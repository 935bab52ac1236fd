"""Which arm of a canary a user is in: a keyed hash (HMAC-SHA256 with the canary's secret key) of the
user's id, read as a number in [0, 1); below the candidate's share means the candidate. Pure functions.

Keyed, so that nobody without the key can choose ids that land in an arm; sticky, so a user sees one
version for the whole canary; monotone in the share, so raising 10 % to 25 % keeps the first 10 % where
they were. Each canary draws a new key: users are assigned afresh per experiment."""

import hashlib
import hmac
import secrets

KEY_BYTES = 32
_BUCKET_BYTES = 8


def new_assignment_key() -> str:
    return secrets.token_hex(KEY_BYTES)


def assignment_bucket(key_hex: str, user: str) -> float:
    """The user's place in [0, 1), uniform over users for a secret key."""
    digest = hmac.new(bytes.fromhex(key_hex), user.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return int.from_bytes(digest[:_BUCKET_BYTES], "big") / 2 ** (8 * _BUCKET_BYTES)


def in_candidate_arm(key_hex: str, user: str, share_percent: float) -> bool:
    return assignment_bucket(key_hex, user) < share_percent / 100
