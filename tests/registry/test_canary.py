"""A canary on an alias: gated like a promotion, audited (and replayed by `audit --verify`), shown in the alias
history, ended by promote or abort; completions and feedback recorded per version and tenant; per-arm figures."""

import math

import pytest
from scipy import stats

from adaptlab.registry import GatePolicy, local_admin
from adaptlab.registry.access import Role, token_principal
from adaptlab.registry.entities import CompletionRecord
from adaptlab.registry.errors import (
    CompletionNotFoundError,
    FeedbackExistsError,
    GateRefusedError,
    InvalidFeedbackError,
    NotFoundError,
    RegistryError,
)
from adaptlab.registry.store import now

SERVER = local_admin("adaptlab-serve")
ACME = token_principal("acme", "app", Role.reader)


@pytest.fixture
def bot(registry, admin, new_run):
    """acme/bot v1..v3 (v1 on production), gates of one approval; v2 approved, v3 not; globex exists too."""
    for tenant in ("acme", "globex"):
        registry.create_tenant(admin, tenant)
    registry.set_gates(admin, "acme/bot", GatePolicy(required_approvals=1))
    for _ in range(3):
        registry.register(admin, new_run(), "acme/bot")
    for version in (1, 2):
        registry.approve(local_admin("reviewer"), f"acme/bot@v{version}", "reviewed")
    registry.promote(admin, "acme/bot@v1", "production")
    return registry


def test_a_canary_needs_a_stable_alias_and_the_promotion_gates(bot, admin):
    with pytest.raises(RegistryError, match="not set; promote a stable version"):
        bot.start_canary(admin, "acme/bot@v2", "staging", 10)
    with pytest.raises(RegistryError, match="points at v1 already"):
        bot.start_canary(admin, "acme/bot@v1", "production", 10)
    with pytest.raises(GateRefusedError, match="approvals: 0 of 1"):
        bot.start_canary(admin, "acme/bot@v3", "production", 10)
    assert bot.audit_entries(admin)[-1].action == "alias.canary_refused"
    with pytest.raises(NotFoundError, match="never had a canary"):
        bot.canary_status(admin, "acme/bot", "production")


def test_start_share_promote_and_history(bot, admin):
    started = bot.start_canary(admin, "acme/bot@v2", "production", 10)
    assert (started.stable_version, started.candidate_version, started.share_percent, started.outcome) == (1, 2, 10, None)
    split = bot.canary_split(SERVER, "acme/bot@production")
    assert (split.stable_ref, split.candidate_ref, split.share_percent) == ("acme/bot@v1", "acme/bot@v2", 10)
    assert "assignment_key" not in split.model_dump() and split.assignment_key not in repr(split)
    assert bot.start_canary(admin, "acme/bot@v2", "production", 25).share_percent == 25
    with pytest.raises(RegistryError, match="canary of v2 running"):
        bot.promote(admin, "acme/bot@v2", "production")
    with pytest.raises(RegistryError, match="canary of v2 running"):
        bot.rollback(admin, "acme/bot", "production")
    assert bot.get_version(admin, "acme/bot@production").version == 1  # the alias itself has not moved

    change = bot.promote_canary(admin, "acme/bot", "production")
    assert (change.from_version, change.to_version, change.changed) == (1, 2, True)
    assert bot.get_version(admin, "acme/bot@production").version == 2
    assert bot.canary_split(SERVER, "acme/bot@production") is None
    events = [(e.kind, e.version, e.share_percent) for e in bot.alias_history(admin, "acme/bot", alias="production")]
    assert events == [("promote", 1, None), ("canary_start", 2, 25), ("canary_promote", 2, 25), ("promote", 2, None)]
    actions = [entry.action for entry in bot.audit_entries(admin)][-4:]
    assert actions == ["alias.canary_start", "alias.canary_share", "alias.canary_promote", "alias.promote"]
    assert bot.rollback(admin, "acme/bot", "production").to_version == 1  # an ordinary promotion: rollback works
    assert bot.verify_audit(admin).ok


def test_abort_leaves_the_alias_and_the_audit_replay_catches_edits(bot, admin):
    bot.start_canary(admin, "acme/bot@v2", "production", 10)
    aborted = bot.abort_canary(admin, "acme/bot", "production")
    assert aborted.outcome == "aborted" and bot.get_version(admin, "acme/bot@production").version == 1
    assert [e.kind for e in bot.alias_history(admin, "acme/bot")][-2:] == ["canary_start", "canary_abort"]
    with pytest.raises(RegistryError, match="no canary is running"):
        bot.abort_canary(admin, "acme/bot", "production")
    assert bot.verify_audit(admin).ok
    from sqlalchemy import text

    with bot.engine.begin() as connection:
        connection.execute(text("UPDATE alias_canaries SET share_percent = 90"))
    problems = bot.verify_audit(admin).unaccounted
    assert len(problems) == 1 and "canary #1 of acme/bot@production" in problems[0] and "share_percent 90" in problems[0]


def _completion(completion_id: str, version_ref: str | None, *, tenant="acme", error=False, latency_s=0.1, alias="production"):
    return CompletionRecord(
        id=completion_id,
        tenant=tenant,
        version_ref=version_ref,
        model=version_ref or "builtin:tiny",
        via_alias=alias,
        created_at=now(),
        prompt_tokens=3,
        completion_tokens=4,
        latency_s=latency_s,
        first_token_s=None if error else latency_s / 2,
        error=error,
    )


def test_feedback_is_stored_with_its_version_once_and_only_by_its_tenant(bot, admin):
    stored = bot.record_completions(
        SERVER, [_completion("cmpl-a", "acme/bot@v2"), _completion("cmpl-b", None), _completion("cmpl-x", "acme/bot@v9")]
    )
    assert stored == 2  # the unknown version's record is skipped, not the batch
    rated = bot.add_feedback(ACME, "cmpl-a", 1, "helpful")
    assert (rated.model, rated.score, rated.created_by) == ("acme/bot@v2", 1.0, "acme/app")
    assert bot.add_feedback(ACME, "cmpl-b", 0.25).model == "builtin:tiny"
    with pytest.raises(FeedbackExistsError):
        bot.add_feedback(ACME, "cmpl-a", -1)
    for score in (2, -0.5, math.nan):
        with pytest.raises(InvalidFeedbackError):
            bot.add_feedback(ACME, "cmpl-b", score)
    globex = token_principal("globex", "spy", Role.reader)
    with pytest.raises(CompletionNotFoundError) as other_tenant:
        bot.add_feedback(globex, "cmpl-a", 1)
    with pytest.raises(CompletionNotFoundError) as unknown:
        bot.add_feedback(globex, "cmpl-nothing", 1)
    assert str(other_tenant.value).replace("cmpl-a", "ID") == str(unknown.value).replace("cmpl-nothing", "ID")  # nothing leaks
    denials = [entry for entry in bot.audit_entries(admin) if entry.action == "feedback.denied"]
    assert [(entry.actor, entry.target) for entry in denials] == [("globex/spy", "completion:cmpl-a")]


def test_status_figures_match_a_hand_computation(bot, admin):
    bot.start_canary(admin, "acme/bot@v2", "production", 50)
    stable_latencies = [0.10 + 0.01 * i for i in range(10)]
    records = [_completion(f"s{i}", "acme/bot@v1", latency_s=latency) for i, latency in enumerate(stable_latencies)]
    records += [_completion(f"c{i}", "acme/bot@v2", latency_s=0.5, error=i < 2) for i in range(8)]
    records += [_completion("direct", "acme/bot@v1", alias=None)]  # named by version, not through the alias: not an arm's
    bot.record_completions(SERVER, records)
    stable_scores, candidate_scores = [1, 1, 1, 0, -1, 1, 1], [1, -1, -1, 0]
    for i, score in enumerate(stable_scores):
        bot.add_feedback(ACME, f"s{i}", score)
    for i, score in enumerate(candidate_scores):
        bot.add_feedback(ACME, f"c{i}", score)

    report = bot.canary_status(ACME, "bot", "production").report
    stable, candidate = report.stable, report.candidate
    assert (stable.requests, stable.errors, candidate.requests, candidate.errors) == (10, 0, 8, 2)
    # Wilson score interval of 5 positives in 7, by its formula
    n, p, z = 7, 5 / 7, stats.norm.ppf(0.975)
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert stable.positive_rate.value == pytest.approx(p)
    assert (stable.positive_rate.interval.low, stable.positive_rate.interval.high) == pytest.approx((centre - half, centre + half))
    # Student t interval of the candidate's mean score: mean ± t(0.975, n − 1) · s / √n
    mean, spread = sum(candidate_scores) / 4, stats.tstd(candidate_scores)
    half_t = stats.t.ppf(0.975, 3) * spread / 2
    assert candidate.feedback_mean.value == pytest.approx(-0.25)
    assert (candidate.feedback_mean.interval.low, candidate.feedback_mean.interval.high) == pytest.approx((mean - half_t, mean + half_t))
    assert stable.latency_p50_s.value == pytest.approx(0.145)
    by_figure = {comparison.figure: comparison for comparison in report.comparisons}
    assert by_figure["latency_s"].verdict == "worse"  # every candidate answer took 0.5 s, every stable one under 0.2 s
    assert by_figure["error_rate"].test.p_value == pytest.approx(stats.fisher_exact([[0, 10], [2, 6]]).pvalue)
    assert report.decision == "abort" and "worse on latency" in report.reason
    assert not report.enough_traffic and report.rated_needed_per_arm > 100


def test_cli_promote_with_canary_status_and_abort(bot, run_cli):
    result = run_cli("promote", "acme/bot@v2", "--alias", "production", "--canary", "10")
    assert "10 % of its users get v2" in result.output
    status = run_cli("canary", "status", "acme/bot", "--alias", "production")
    assert "positive feedback" in status.output and "wait" in status.output and "not enough traffic" in status.output
    refused = run_cli("promote", "acme/bot@v3", "--alias", "production", "--canary", "150", ok=False)
    assert refused.exit_code != 0 and "at most 100" in str(refused.exception)
    assert "every user gets v1 again" in run_cli("canary", "abort", "acme/bot", "--alias", "production").output
    history = run_cli("show", "acme/bot").output
    assert "canary start (10 %)" in history and "canary abort" in history
