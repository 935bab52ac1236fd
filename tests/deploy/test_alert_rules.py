"""deploy/prometheus/alerts.yml: valid rules (`promtool check rules`), alerts that fire on synthetic series as
alerts_test.yml expects (`promtool test rules`), and only metric names the server exports."""

import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adaptlab.serve.metrics import ServeMetrics
from tests.conftest import REPO_ROOT

RULES_DIR = REPO_ROOT / "deploy" / "prometheus"

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (Debian package `prometheus`; scripts/ci_promtool.sh)"
)


@needs_promtool
@pytest.mark.parametrize("command", [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]], ids=["check", "test"])
def test_promtool_accepts_the_rules(command):
    result = subprocess.run(["promtool", *command], cwd=RULES_DIR, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_use_the_metric_names_the_server_exports():
    metrics = ServeMetrics()
    for gauge in (metrics.drift_score, metrics.drift_threshold, metrics.drift_computed):
        gauge.labels("acme/bot@v1").set(1)
    metrics.requests.labels("acme/bot@v1", "200").inc()
    metrics.canary_requests.labels("acme/bot@production", "candidate", "200").inc()
    metrics.feedback.labels("acme/bot@v1", "negative").inc()
    for histogram in (metrics.request_duration, metrics.time_to_first_token):
        histogram.labels("acme/bot@v1").observe(0.1)
    exported = {sample.name for family in text_string_to_metric_families(metrics.exposition().decode()) for sample in family.samples}
    rules = [rule for group in yaml.safe_load((RULES_DIR / "alerts.yml").read_text())["groups"] for rule in group["rules"]]
    used = {name for rule in rules for name in re.findall(r"\b(?:adaptlab|gen_ai)_[a-z_]+\b", rule["expr"])}
    assert used <= exported, used - exported
    assert {"AdaptlabPromptDrift", "AdaptlabHighErrorRate", "AdaptlabLatencySLO", "AdaptlabNegativeFeedback", "AdaptlabCanaryWorseThanStable"} <= {
        rule["alert"] for rule in rules
    }
