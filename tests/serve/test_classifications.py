"""`POST /v1/classifications` end to end: a LoRA classifier trained by `adaptlab train --task classification` on
builtin:tiny is registered, approved and served on a loopback port; it answers with the labels and probabilities the
trained model itself gives, under the completions' tenant, approval and version-header rules."""

import httpx
import pytest
import torch
from peft import PeftModel

from adaptlab.models import load_model_for_task, load_tokenizer
from adaptlab.registry import GatePolicy, Registry, local_admin
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.serve.gateway import VERSION_HEADER
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.server import running_server
from adaptlab.train.loop import train
from tests.objectives.test_classification import COLUMNS, write_sms
from tests.registry.runs import make_run, save_lora_adapter, write_dataset

from .conftest import HTTP_TIMEOUT_S

TEXTS = ["win cash now 7", "see you soon 3", "win cash now 99"]


@pytest.fixture(scope="module")
def classifier_world(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    run_dir = root / "run"
    train(TrainConfig(
        model="builtin:tiny", method="lora", task="classification", out=run_dir, data=[write_sms(root / "sms.tsv", rows=96)],
        columns=COLUMNS, eval_fraction=0.25, max_seq_len=32, micro_batch_size=8, max_steps=8, precision="fp32",
        learning_rate=2e-2, rank=8, alpha=16, dropout=0.0,
    ))
    admin = local_admin("ops-admin")
    with Registry.open(root / "registry") as registry:
        for tenant in ("acme", "globex"):
            registry.create_tenant(admin, tenant)
        for name in ("acme/spam", "acme/spam-draft", "acme/chat"):
            registry.set_gates(admin, name, GatePolicy(required_approvals=0))
        registry.register(admin, run_dir, "acme/spam")
        registry.approve(local_admin("reviewer"), "acme/spam@v1", "checked")
        registry.promote(admin, "acme/spam@v1", "production")
        registry.register(admin, run_dir, "acme/spam-draft")  # never approved
        chat = save_lora_adapter(tiny_model, root / "chat-adapter")
        registry.register(admin, make_run(chat, tiny_model, write_dataset(root / "data"), root / "chat-run"), "acme/chat")
        registry.approve(local_admin("reviewer"), "acme/chat@v1", "checked")
        tokens = {tenant: registry.create_token(admin, tenant, "reader", f"{tenant}-app") for tenant in ("acme", "globex")}
    with running_server(ServeConfig(model="builtin:tiny", registry=root / "registry", port=0)) as server:
        clients = {
            tenant: httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT_S)
            for tenant, token in tokens.items()
        }
        yield run_dir, root / "registry", clients, server.url
        for client in clients.values():
            client.close()


def expected_probabilities(tiny_model, run_dir, texts: list[str]) -> list[list[float]]:
    """The trained classifier's own probabilities, one text at a time, loaded by plain PEFT."""
    model = PeftModel.from_pretrained(load_model_for_task(tiny_model.path, "classification", ["ham", "spam"]), run_dir).eval()
    tokenizer = load_tokenizer(tiny_model.path)
    with torch.no_grad():
        return [model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0].tolist() for text in texts]


def test_a_registered_classifier_labels_texts_with_its_own_probabilities(tiny_model, classifier_world):
    run_dir, _, clients, _ = classifier_world
    response = clients["acme"].post("/v1/classifications", json={"model": "acme/spam@production", "input": TEXTS})
    assert response.status_code == 200, response.text
    assert response.headers[VERSION_HEADER] == "acme/spam@v1"
    answer = response.json()
    assert answer["model"] == "acme/spam@v1" and [item["index"] for item in answer["data"]] == [0, 1, 2]
    assert [item["label"] for item in answer["data"]] == ["spam", "ham", "spam"]  # the planted words were learnt
    for item, expected in zip(answer["data"], expected_probabilities(tiny_model, run_dir, TEXTS), strict=True):
        assert list(item["probabilities"]) == ["ham", "spam"]
        assert list(item["probabilities"].values()) == pytest.approx(expected, abs=1e-5)  # padding in a batch changes nothing

    single = clients["acme"].post("/v1/classifications", json={"model": "acme/spam@v1", "input": TEXTS[1]}).json()
    assert [item["label"] for item in single["data"]] == ["ham"]


def test_the_completions_access_rules_apply(classifier_world):
    _, registry_root, clients, url = classifier_world
    refused = {
        "other tenant": (clients["globex"], {"model": "acme/spam@v1", "input": "x"}, 403, "permission_error"),
        "unapproved": (clients["acme"], {"model": "acme/spam-draft@v1", "input": "x"}, 403, "version_not_approved"),
        "language model adapter": (clients["acme"], {"model": "acme/chat@v1", "input": "x"}, 400, "wrong_endpoint"),
        "the base": (clients["acme"], {"model": "builtin:tiny", "input": "x"}, 400, "wrong_endpoint"),
        "no texts": (clients["acme"], {"model": "acme/spam@v1", "input": []}, 400, "invalid_request"),
        "empty text": (clients["acme"], {"model": "acme/spam@v1", "input": ["a", ""]}, 400, "empty_input"),
        "unknown field": (clients["acme"], {"model": "acme/spam@v1", "input": "x", "temperature": 0}, 400, "invalid_request"),
    }
    for case, (client, body, status, kind) in refused.items():
        response = client.post("/v1/classifications", json=body)
        assert response.status_code == status, (case, response.text)
        error = response.json()["error"]
        assert kind in (error["type"], error["code"]), (case, error)
    with Registry.open(registry_root) as registry:
        denied = {(e.actor, e.target) for e in registry.audit_entries(local_admin()) if e.action == "serve.denied"}
    assert ("globex/globex-app", "acme/spam@v1") in denied
    anonymous = httpx.post(f"{url}/v1/classifications", json={"model": "acme/spam@v1", "input": "x"}, timeout=HTTP_TIMEOUT_S)
    assert anonymous.status_code == 401


def test_each_endpoint_refuses_the_other_kind_of_model_naming_the_one_that_answers_it(classifier_world):
    _, _, clients, _ = classifier_world
    acme = clients["acme"]
    asked = {
        "/v1/completions": ({"model": "acme/spam@production", "prompt": "win cash", "max_tokens": 2}, "acme/spam@production", "/v1/classifications"),
        "/v1/chat/completions": (
            {"model": "acme/spam@v1", "messages": [{"role": "user", "content": "win cash"}], "max_tokens": 2}, "acme/spam@v1", "/v1/classifications",
        ),
        "/v1/classifications": ({"model": "acme/chat@v1", "input": "win cash"}, "acme/chat@v1", "/v1/completions"),
    }
    for endpoint, (body, model, answered_by) in asked.items():
        response = acme.post(endpoint, json=body)
        assert response.status_code == 400, (endpoint, response.text)
        error = response.json()["error"]
        assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "wrong_endpoint", "model"), endpoint
        assert model in error["message"] and answered_by in error["message"], error["message"]
    # the classifier itself still answers where it belongs, and a language-model adapter still generates
    assert acme.post("/v1/classifications", json={"model": "acme/spam@v1", "input": "win cash"}).status_code == 200
    assert acme.post("/v1/completions", json={"model": "acme/chat@v1", "prompt": "hi", "max_tokens": 2}).status_code == 200
