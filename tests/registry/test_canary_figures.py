"""The canary's decision from its arms' samples: wait for traffic, abort on a worse figure, promote otherwise."""

from adaptlab.registry.canary_figures import ArmSamples, canary_report, compare_arms


def _arm(requests: int, errors: int, latency_s: float, scores: list[float]) -> ArmSamples:
    answered = requests - errors
    return ArmSamples(
        requests=requests,
        errors=errors,
        latencies_s=[latency_s + 0.001 * (i % 7) for i in range(answered)],
        first_token_s=[latency_s / 4] * answered,
        completion_tokens=[20.0 + i % 5 for i in range(answered)],
        scores=scores,
    )


def test_too_few_ratings_means_wait_and_says_how_many():
    report = canary_report("m@v1", "m@v2", _arm(50, 0, 0.2, [1.0] * 10), _arm(6, 0, 0.2, [1.0, 0.0]))
    assert report.decision == "wait" and not report.enough_traffic
    assert f"needs {report.rated_needed_per_arm} rated completions per arm; stable has 10, candidate 2" in report.reason


def test_a_worse_error_rate_aborts_even_before_enough_ratings():
    report = canary_report("m@v1", "m@v2", _arm(400, 0, 0.2, []), _arm(400, 40, 0.2, []))
    errors = next(c for c in report.comparisons if c.figure == "error_rate")
    assert errors.verdict == "worse" and report.decision == "abort"
    assert report.candidate.error_rate.value == 0.1 and report.candidate.error_rate.interval.contains(0.1)
    assert next(c for c in report.comparisons if c.figure == "feedback_mean").verdict == "too_few"


def test_enough_equal_ratings_promote():
    scores = [1.0, 0.0, 1.0, -1.0] * 500  # 2,000 ratings per arm, half positive
    report = canary_report("m@v1", "m@v2", _arm(2000, 0, 0.2, scores), _arm(2000, 0, 0.2, scores))
    assert report.enough_traffic and report.decision == "promote"
    assert all(c.verdict == "indistinguishable" for c in report.comparisons)


def test_differences_count_only_below_the_bonferroni_threshold():
    # positive rate 55 % against 50 % over 1,000 ratings each: p ≈ 0.03, under 0.05 but not under 0.05 / 6
    stable, candidate = _arm(1000, 0, 0.2, [1.0] * 500 + [0.0] * 500), _arm(1000, 0, 0.2, [1.0] * 550 + [0.0] * 450)
    positive = next(c for c in compare_arms(stable, candidate) if c.figure == "positive_rate")
    assert 0.05 / 6 < positive.test.p_value < 0.05 and positive.test.alpha == 0.05 / 6
    assert positive.verdict == "indistinguishable"
