"""Drift monitoring end to end (loopback server, builtin:tiny, the real sentence encoder, real data): a version
registered with a profile of Shakespeare lines sees more Shakespeare lines (no drift: ROC AUC below 0.55), then
Alpaca instructions (drift: above), with the Prometheus gauges updated after each test; `adaptlab monitor drift`
shows the figures and a cluster of the new prompts; tenancy and versions without a usable reference are answered clearly."""

import itertools
import json
import random
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from adaptlab.cli import app as adaptlab_app
from adaptlab.data.prompts import file_prompts
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server
from adaptlab.stats.drift import DRIFT_THRESHOLD_ROC_AUC
from tests.encoder_support import needs_encoder

from .monitoring_world import build_world

pytestmark = [needs_encoder, pytest.mark.integration]

REFERENCE_PROMPTS = 256
WINDOW_PROMPTS = 200
LIVE_LIKE_TRAINING = 200
LIVE_OTHER = 100
TEST_WAIT_S = 120
VERSION = "acme/bard@v1"


@pytest.fixture(scope="module")
def prompts(shared_data):
    """(training lines, held-out lines from the same shuffle, Alpaca instructions)."""
    with open(shared_data / "tinyshakespeare.txt", encoding="utf-8") as text:
        lines = [line.strip() for line in itertools.islice(text, 6000) if len(line.strip()) >= 25]
    random.Random(0).shuffle(lines)
    alpaca = list(itertools.islice(file_prompts([shared_data / "alpaca_en_demo.json"], "alpaca"), LIVE_OTHER))
    return lines[:400], lines[400 : 400 + LIVE_LIKE_TRAINING], alpaca


@pytest.fixture(scope="module")
def server(prompts, tiny_model, tmp_path_factory):
    training, _, _ = prompts
    world = build_world(tmp_path_factory.mktemp("drift"), tiny_model, {"bard": (training, REFERENCE_PROMPTS), "plain": (training[:20], 0), "sparse": (training[:5], 5)})
    config = ServeConfig(
        model="builtin:tiny",
        registry=world.registry_root,
        port=0,
        max_wait_ms=0,
        default_max_tokens=1,
        drift_sample_rate=1.0,
        drift_window_prompts=WINDOW_PROMPTS,
        drift_min_prompts=LIVE_OTHER,
        drift_every_prompts=LIVE_OTHER,
        drift_cpu_share=1.0,
        keep_prompt_text=True,
    )
    with running_server(config) as running:
        with httpx.Client(base_url=running.url, headers={"Authorization": f"Bearer {world.acme_token}"}, timeout=60) as acme:
            yield running, acme, world


def drift_gauges(client: httpx.Client) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(client.get("/metrics").text)
        for sample in family.samples
        if sample.name.startswith("adaptlab_drift") and sample.labels.get("model") == VERSION
    }


def send_and_wait_until_embedded(client: httpx.Client, prompts: list[str], embedded: int, chat: bool = False) -> dict[str, float]:
    """Send the prompts to acme/bard@production, then wait until the drift thread has embedded `embedded` prompts in all."""
    for prompt in prompts:
        if chat:
            response = client.post("/v1/chat/completions", json={"model": "acme/bard@production", "messages": [{"role": "user", "content": prompt}]})
        else:
            response = client.post("/v1/completions", json={"model": "acme/bard@production", "prompt": prompt})
        assert response.status_code == 200, response.text
    deadline = time.monotonic() + TEST_WAIT_S
    while time.monotonic() < deadline:
        gauges = drift_gauges(client)
        if gauges.get("adaptlab_drift_prompts_embedded_total") == embedded:
            return gauges
        time.sleep(0.2)
    raise AssertionError(f"the drift thread did not embed {embedded} prompts within {TEST_WAIT_S} s: {drift_gauges(client)}")


def report_and_gauges(client: httpx.Client) -> tuple[dict, dict[str, float]]:
    """A fresh test of the whole window (GET /monitor/drift), and the gauges it updated."""
    report = client.get("/monitor/drift", params={"model": "acme/bard@production"}).json()
    return report, drift_gauges(client)


def test_drift_is_low_for_training_like_prompts_and_high_for_others(server, prompts):
    _, acme, _ = server
    _, held_out, alpaca = prompts
    background = send_and_wait_until_embedded(acme, held_out, embedded=LIVE_LIKE_TRAINING)
    assert background["adaptlab_drift_tests_total"] >= 1  # the drift thread tests every 100 new prompts on its own
    report, gauges = report_and_gauges(acme)
    assert report["version"] == VERSION and report["status"] == "measured" and report["window_prompts"] == WINDOW_PROMPTS
    assert report["reference"]["embedded_prompts"] == REFERENCE_PROMPTS
    like_training = report["figures"]
    assert like_training["embedding"]["roc_auc"] < DRIFT_THRESHOLD_ROC_AUC and not like_training["embedding"]["drifted"]
    assert like_training["length"]["p_value"] > 0.01
    assert gauges["adaptlab_drift_score"] == pytest.approx(like_training["embedding"]["roc_auc"])
    assert gauges["adaptlab_drift_threshold"] == DRIFT_THRESHOLD_ROC_AUC and gauges["adaptlab_drift_window_prompts"] == WINDOW_PROMPTS

    # Chat requests' prompts are their user turns: the window is now half Shakespeare, half Alpaca instructions.
    send_and_wait_until_embedded(acme, alpaca, embedded=LIVE_LIKE_TRAINING + LIVE_OTHER, chat=True)
    report, gauges = report_and_gauges(acme)
    other = report["figures"]["embedding"]
    assert other["drifted"] and other["roc_auc"] > DRIFT_THRESHOLD_ROC_AUC and other["interval"]["low"] > DRIFT_THRESHOLD_ROC_AUC
    assert gauges["adaptlab_drift_score"] == pytest.approx(other["roc_auc"])
    assert gauges["adaptlab_drift_last_computed_timestamp_seconds"] > time.time() - 60
    newest = min(report["clusters"], key=lambda cluster: cluster["nearest_reference_similarity"])
    assert newest["central_prompt"] in alpaca  # the cluster farthest from the training prompts is the new traffic


def test_monitor_drift_command_shows_figures_and_clusters(server):
    running, _, world = server
    env = {"ADAPTLAB_SERVER": running.url, "ADAPTLAB_TOKEN": world.acme_token, "COLUMNS": "250"}
    result = CliRunner().invoke(adaptlab_app, ["monitor", "drift", "acme/bard@production"], env=env)
    assert result.exit_code == 0, result.output
    assert f"drift of acme/bard@production ({VERSION})" in result.output
    assert "ROC AUC" in result.output and "live prompts by cluster" in result.output
    as_json = CliRunner().invoke(adaptlab_app, ["monitor", "drift", "acme/bard@production", "--json"], env=env)
    assert json.loads(as_json.output)["version"] == VERSION


def test_versions_without_a_reference_and_other_tenants(server):
    running, acme, world = server
    acme.post("/v1/completions", json={"model": "acme/plain@production", "prompt": "To be, or not to be"})
    plain = acme.get("/monitor/drift", params={"model": "acme/plain@production"}).json()
    assert plain["status"] == "no_reference" and "--drift-profile-prompts" in plain["detail"] and plain["window_prompts"] == 0
    sparse = acme.get("/monitor/drift", params={"model": "acme/sparse@production"}).json()
    assert sparse["status"] == "no_reference" and "embeds 5 prompts; the drift test needs 10" in sparse["detail"]
    globex = httpx.get(f"{running.url}/monitor/drift", params={"model": "acme/bard@production"}, headers={"Authorization": f"Bearer {world.globex_token}"})
    assert globex.status_code == 403
    assert httpx.get(f"{running.url}/monitor/drift", params={"model": "acme/bard@production"}).status_code == 401
    assert acme.get("/monitor/drift", params={"model": "acme/nobody@production"}).status_code == 404
    refused = CliRunner().invoke(
        adaptlab_app, ["monitor", "drift", "acme/bard@production", "--server", running.url, "--token", world.globex_token]
    )
    assert refused.exit_code != 0 and "HTTP 403" in str(refused.exception)
