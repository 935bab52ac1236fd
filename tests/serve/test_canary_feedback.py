"""The production loop on loopback with builtin:tiny: a canary on an alias splits users by a keyed hash
(10 % ± 3σ of 1,000 users, each always on one arm), promote and abort take effect without a restart,
completions (streamed, failed) are recorded per version off the request path, without text unless the
operator turns it on, and feedback is attributed to the version that answered and refused across tenants."""

import json
import math
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.registry.canary_assignment import in_candidate_arm, new_assignment_key
from adaptlab.registry.entities import CanarySplit, CompletionRecord
from adaptlab.registry.store import now
from adaptlab.registry.tables import Completion
from adaptlab.serve.gateway import VERSION_HEADER
from adaptlab.serve.completion_log import CompletionRecorder
from adaptlab.serve.server import running_server
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

from .conftest import ALIAS_TTL_S, BROKEN_MODEL, HTTP_TIMEOUT_S, serve_config

ADMIN = local_admin("ops-admin")
USERS = 1000
SHARE_PERCENT = 10
KEYS = ("00" * 32, "5a" * 32, "c3" * 32)  # fixed keys: the same 1,000 users judged under three secrets


@pytest.mark.parametrize("key", KEYS)
def test_a_10_percent_canary_gets_10_percent_of_users_within_3_sigma_and_each_user_one_arm(key):
    users = [f"user-{i}" for i in range(USERS)]
    split = CanarySplit(stable_ref="t/m@v1", candidate_ref="t/m@v2", share_percent=SHARE_PERCENT, assignment_key=key)
    arms = [split.arm_ref(user) for user in users]
    tolerance = 3 * math.sqrt(USERS * 0.1 * 0.9)  # binomial standard deviation: ±28.5 users, ±2.85 points
    assert abs(arms.count("t/m@v2") - USERS * SHARE_PERCENT / 100) <= tolerance
    assert [split.arm_ref(user) for user in users] == arms  # sticky
    raised = [in_candidate_arm(key, user, 25) for user in users]
    assert all(raised[i] for i, arm in enumerate(arms) if arm == "t/m@v2")  # raising the share keeps the candidate's users


def test_arms_differ_between_keys():
    users = [f"user-{i}" for i in range(200)]
    first, second = new_assignment_key(), new_assignment_key()
    assert [in_candidate_arm(first, u, 50) for u in users] != [in_candidate_arm(second, u, 50) for u in users]


@pytest.fixture(scope="module")
def hooli(world, tiny_model, tmp_path_factory):
    """hooli/bot v1 (on production) and v2, both approved, and a reader token; its own tenant, so its alias can move."""
    root = tmp_path_factory.mktemp("hooli")
    data_files = write_dataset(root / "data")
    with Registry.open(world.registry_root) as registry:
        registry.create_tenant(ADMIN, "hooli")
        registry.set_gates(ADMIN, "hooli/bot", GatePolicy(required_approvals=0))
        for seed in (31, 32):
            adapter = save_lora_adapter(tiny_model, root / f"seed{seed}", seed=seed)
            registry.register(ADMIN, make_run(adapter, tiny_model, data_files, root / f"run{seed}"), "hooli/bot")
        registry.promote(ADMIN, "hooli/bot@v1", "production")
        token = registry.create_token(ADMIN, "hooli", "reader", "hooli-app")
    return token


@pytest.fixture
def client(server, hooli):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {hooli}"}, timeout=HTTP_TIMEOUT_S) as opened:
        yield opened


def _ask(client: httpx.Client, user: str) -> httpx.Response:
    response = client.post("/v1/completions", json={"model": "hooli/bot@production", "prompt": "hi", "max_tokens": 1, "user": user})
    assert response.status_code == 200, response.text
    assert response.json()["model"] == response.headers[VERSION_HEADER]
    return response


def _arms(client: httpx.Client, users: list[str]) -> dict[str, str]:
    return {user: _ask(client, user).headers[VERSION_HEADER] for user in users}


def _within_ttl(holds) -> None:
    """`holds()` becomes true within the alias TTL (and a margin), with no restart."""
    deadline = time.monotonic() + ALIAS_TTL_S + 5
    while not holds():
        assert time.monotonic() < deadline, "the server did not pick up the change within the alias TTL"
        time.sleep(ALIAS_TTL_S / 2)


def test_canary_over_http_sticky_arms_then_abort_and_promote_without_restart(server, client):
    registry = server.runtime.registry
    users = [f"http-user-{i}" for i in range(16)]
    registry.start_canary(ADMIN, "hooli/bot@v2", "production", 50)
    split = registry.canary_split(ADMIN, "hooli/bot@production")
    expected = {user: split.arm_ref(user) for user in users}
    assert set(expected.values()) == {"hooli/bot@v1", "hooli/bot@v2"}
    _within_ttl(lambda: _arms(client, users) == expected)
    assert _arms(client, users) == expected  # each user again on the same arm
    without_user = client.post("/v1/completions", json={"model": "hooli/bot@production", "prompt": "hi", "max_tokens": 1})
    assert without_user.headers[VERSION_HEADER] == split.arm_ref("hooli/hooli-app")  # no `user`: the token's principal

    registry.abort_canary(ADMIN, "hooli/bot", "production")
    _within_ttl(lambda: set(_arms(client, users).values()) == {"hooli/bot@v1"})
    registry.start_canary(ADMIN, "hooli/bot@v2", "production", 50)
    registry.promote_canary(ADMIN, "hooli/bot", "production")
    _within_ttl(lambda: set(_arms(client, users).values()) == {"hooli/bot@v2"})
    registry.rollback(ADMIN, "hooli/bot", "production")


def test_feedback_goes_to_the_version_that_answered_once_and_only_for_its_tenant(server, client, world):
    registry = server.runtime.registry
    registry.start_canary(ADMIN, "hooli/bot@v2", "production", 50)
    try:
        time.sleep(ALIAS_TTL_S)
        metrics = server.runtime.metrics.registry
        arm_requests = {arm: metrics.get_sample_value(
            "adaptlab_canary_requests_total", {"model": "hooli/bot@production", "arm": arm, "status_code": "200"}) or 0
            for arm in ("stable", "candidate")}
        answers = [_ask(client, f"rater-{i}") for i in range(6)]
        for answer in answers:
            body = {"completion_id": answer.json()["id"], "score": 1, "comment": "good"}
            rated = client.post("/v1/feedback", json=body)
            assert rated.status_code == 201, rated.text
            assert rated.json()["model"] == answer.headers[VERSION_HEADER]
        first_id = answers[0].json()["id"]
        assert client.post("/v1/feedback", json={"completion_id": first_id, "score": 0}).status_code == 409
        assert client.post("/v1/feedback", json={"completion_id": answers[1].json()["id"], "score": 0.5 + 1}).status_code == 400
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {world.globex_token}"}, timeout=HTTP_TIMEOUT_S) as globex:
            refused = globex.post("/v1/feedback", json={"completion_id": answers[1].json()["id"], "score": -1})
            unknown = globex.post("/v1/feedback", json={"completion_id": "cmpl-none", "score": -1})
        assert refused.status_code == unknown.status_code == 404
        assert refused.json()["error"]["code"] == "completion_not_found"
        denied = [e for e in registry.audit_entries(ADMIN, tenant="globex") if e.action == "feedback.denied"]
        assert denied and denied[-1].target == f"completion:{answers[1].json()['id']}"

        server.runtime.completions.wait_written(answers[-1].json()["id"], 10)
        report = registry.canary_status(ADMIN, "hooli/bot", "production").report
        served = [answer.headers[VERSION_HEADER] for answer in answers]
        for arm, version in (("stable", "hooli/bot@v1"), ("candidate", "hooli/bot@v2")):
            counted = metrics.get_sample_value("adaptlab_canary_requests_total", {"model": "hooli/bot@production", "arm": arm, "status_code": "200"})
            assert (counted or 0) - arm_requests[arm] == served.count(version)
        for version in set(served):
            rated = metrics.get_sample_value("adaptlab_feedback_total", {"model": version, "score": "positive"})
            assert rated >= served.count(version)  # this test's ratings (score 1) of the version, after any earlier test's
        assert (report.stable.requests, report.candidate.requests) == (served.count("hooli/bot@v1"), served.count("hooli/bot@v2"))
        assert report.stable.rated + report.candidate.rated == len(answers)  # every answer was rated once
        assert report.decision == "wait"
        with registry.engine.connect() as connection:
            texts = connection.execute(Completion.__table__.select().where(Completion.id == first_id)).one()
        assert texts.prompt_text is None and texts.completion_text is None  # no text unless the operator turns it on
    finally:
        registry.abort_canary(ADMIN, "hooli/bot", "production")


def _record(completion_id: str) -> CompletionRecord:
    return CompletionRecord(
        id=completion_id,
        tenant="hooli",
        version_ref=None,
        model="builtin:tiny",
        via_alias=None,
        created_at=now(),
        prompt_tokens=1,
        completion_tokens=1,
        latency_s=0.01,
        first_token_s=0.005,
        error=False,
    )


def test_a_full_queue_drops_and_counts_instead_of_blocking(world, hooli):
    metrics = CollectorRegistry()
    recorder = CompletionRecorder(Registry.open(world.registry_root), metrics, capacity=1, record_text=False)
    for completion_id in ("cmpl-q1", "cmpl-q2", "cmpl-q3"):
        recorder.record(_record(completion_id))  # the writer is not running yet: a blocking put would never return
    assert metrics.get_sample_value("adaptlab_serve_completion_records_dropped_total") == 2
    recorder.start()
    recorder.wait_written("cmpl-q1", 10)
    recorder.close()
    assert metrics.get_sample_value("adaptlab_serve_completion_records_written_total") == 1


def test_streamed_answers_and_server_failures_are_recorded(server, acme, world):
    """A stream's id (in every chunk) can be rated once the stream ends; a version the server fails to load is
    recorded with the error flag, so a broken candidate shows in its arm's error rate."""
    body = {"model": "acme/bot@v1", "prompt": "stream it", "max_tokens": 2, "stream": True}
    with acme.stream("POST", "/v1/completions", json=body) as response:
        chunks = [json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: {")]
    completion_id = chunks[0]["id"]
    rated = acme.post("/v1/feedback", json={"completion_id": completion_id, "score": 0.75})
    assert rated.status_code == 201 and rated.json()["model"] == "acme/bot@v1"

    failed = acme.post("/v1/completions", json={"model": f"{BROKEN_MODEL}@v1", "prompt": "hi", "max_tokens": 1})
    assert failed.status_code == 409
    registry = server.runtime.registry
    deadline = time.monotonic() + 10
    while not (rows := _completions_of(registry, f"{BROKEN_MODEL}@v1")):
        assert time.monotonic() < deadline, "the failed request was not recorded"
        time.sleep(0.1)
    assert all(row.error and row.completion_tokens == 0 and row.first_token_s is None for row in rows)


def _completions_of(registry: Registry, model: str) -> list:
    with registry.engine.connect() as connection:
        return connection.execute(Completion.__table__.select().where(Completion.model == model)).all()


def test_text_is_recorded_only_when_the_operator_turns_it_on(world):
    with running_server(serve_config(world, record_text=True)) as texts_on:
        headers = {"Authorization": f"Bearer {world.acme_token}"}
        body = {"model": "acme/bot@v1", "prompt": "hello there", "max_tokens": 3}
        answer = httpx.post(f"{texts_on.url}/v1/completions", json=body, headers=headers, timeout=HTTP_TIMEOUT_S).json()
        texts_on.runtime.completions.wait_written(answer["id"], 10)
        with texts_on.runtime.registry.engine.connect() as connection:
            row = connection.execute(Completion.__table__.select().where(Completion.id == answer["id"])).one()
    assert (row.prompt_text, row.completion_text) == ("hello there", answer["choices"][0]["text"])
