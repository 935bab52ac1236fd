"""The measured hybrid end to end on builtin:tiny: full FT on shared data gives the base, LoRA on it per client,
every row measured like any method; registered, the adapter names its base version, and a server on another base
refuses it with 409 naming that version."""

import json

import httpx
import pytest
from rich.console import Console

from adaptlab.compare.clients import TUNED_BASE_RUN, compare_clients
from adaptlab.compare.config import CompareConfig
from adaptlab.compare.recommend import Constraints, recommend
from adaptlab.compare.schema import read_comparison
from adaptlab.data.glossary_task import glossary_task, write_jsonl
from adaptlab.errors import ArtifactError
from adaptlab.eval.forgetting import reference_text
from adaptlab.models import resolve_model
from adaptlab.models.hashing import file_sha256
from adaptlab.registry import Registry, local_admin
from adaptlab.serve.config import ServeConfig
from adaptlab.serve.resolution import servable_refusal
from adaptlab.serve.server import running_server

QUIET = Console(quiet=True)
ADMIN = local_admin("ops-admin")


def hybrid_config(folder, **overrides) -> CompareConfig:
    shared, _ = glossary_task(24, 0, seed=1)
    client, _ = glossary_task(20, 0, seed=2)
    write_jsonl(shared, folder / "shared.jsonl")
    write_jsonl(client, folder / "client-a.jsonl")
    (folder / "reference.txt").write_text(reference_text()[:1500])  # the built-in reference is 20k tokens
    settings = dict(
        model="builtin:tiny", base_data=[folder / "shared.jsonl"], data=[folder / "client-a.jsonl"], eval_fraction=0.25,
        out=folder / "out", methods=["full", "lora", "hybrid"], max_steps=3, micro_batch_size=4, max_seq_len=256, rank=4,
        learning_rates={"full": 1e-3, "lora": 1e-2, "hybrid": 1e-2}, metric="exact_match", max_new_tokens=4, metric_examples=4,
        precision="fp32", packing=False, reference=folder / "reference.txt",
    )
    return CompareConfig(**(settings | overrides))


@pytest.fixture(scope="module")
def hybrid(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hybrid")
    config = hybrid_config(folder)
    return folder, compare_clients(config, QUIET)


def test_every_row_is_measured_on_the_clients_held_out_set_like_any_method(hybrid):
    folder, report = hybrid
    [client] = report.clients
    comparison = client.comparison
    assert [r.method for r in comparison.methods] == ["full", "lora", "hybrid"]
    assert len({r.tokens_seen for r in comparison.methods}) == 1
    for result in comparison.methods:
        assert result.intervals.eval_loss is not None and result.intervals.forgetting_percent is not None
        assert result.forgetting is not None
    hybrid_run = json.loads((folder / "out" / "clients" / "client-a" / "runs" / "hybrid" / "run.json").read_text())
    assert hybrid_run["base_model"]["weights_sha256"] == report.tuned_base.weights_sha256 != comparison.base_model.weights_sha256
    assert comparison.tuned_base.weights_sha256 == report.tuned_base.weights_sha256
    assert report.tuned_base.data_files == [str(folder / "shared.jsonl")]


def test_the_report_shows_each_client_side_by_side_and_the_serving_bytes(hybrid):
    folder, _ = hybrid
    markdown = (folder / "out" / "report.md").read_text()
    assert "## Client client-a" in markdown and "fine-tuned base" in markdown and "original base" in markdown
    assert "## Weights to serve N clients" in markdown and "100 clients" in markdown
    html = (folder / "out" / "report.html").read_text()
    assert 'id="client-client-a"' in html and 'id="serving"' in html
    assert json.loads((folder / "out" / "report.json").read_text())["clients"][0]["name"] == "client-a"
    with pytest.raises(ArtifactError, match="per-client comparison"):
        read_comparison(folder / "out")
    assert read_comparison(folder / "out" / "clients" / "client-a").tuned_base is not None


def test_recommend_judges_the_hybrid_on_its_measured_figures(hybrid):
    _, report = hybrid
    comparison = report.clients[0].comparison
    recommendation = recommend(comparison, Constraints(tenants=3, min_quality=0.01, budget_usd=1e6))
    [candidate] = [c for c in recommendation.candidates if c.choice == "hybrid"]
    quality = next(check.detail for check in candidate.checks if check.constraint == "quality")
    assert "estimated" not in quality
    measured = comparison.result("hybrid")
    assert f"{measured.relative_score:.1f}" in quality
    budget = next(check.detail for check in candidate.checks if check.constraint == "budget")
    assert "shared base's run plus this client's adapter" in budget


def test_the_registered_hybrid_adapter_names_its_base_version_and_is_served_only_on_it(hybrid, tiny_model, tmp_path):
    folder, _ = hybrid
    out = folder / "out"
    with Registry.open(tmp_path / "registry") as registry:
        registry.create_tenant(ADMIN, "acme")
        base_version = registry.register(ADMIN, out / TUNED_BASE_RUN, "acme/shared-base")
        adapter = registry.register(ADMIN, out / "clients" / "client-a" / "runs" / "hybrid", "acme/client-a")
        plain = registry.register(ADMIN, out / "clients" / "client-a" / "runs" / "lora", "acme/client-a-plain")
        assert base_version.lineage.weights_sha256 == adapter.base_weights_sha256
        assert adapter.lineage.base_version == "acme/shared-base@v1" and "acme/shared-base@v1" in adapter.lineage.parent_versions
        assert plain.lineage.base_version is None and plain.lineage.parent_versions == []
        using_shared = {record.ref for record in registry.versions_using_data(ADMIN, file_sha256(folder / "shared.jsonl"))}
        assert using_shared == {"acme/shared-base@v1", "acme/client-a@v1"}
        token = registry.create_token(ADMIN, "acme", "reader", "client-app")
    refusal = servable_refusal(adapter, tiny_model, allow_unapproved=True)
    assert refusal.status == 409 and "acme/shared-base@v1" in str(refusal)
    assert servable_refusal(adapter, resolve_model(str(out / TUNED_BASE_RUN)), allow_unapproved=True) is None
    config = ServeConfig(model="builtin:tiny", registry=tmp_path / "registry", port=0, allow_unapproved=True)
    with running_server(config) as server:
        response = httpx.post(f"{server.url}/v1/completions", headers={"Authorization": f"Bearer {token}"}, timeout=60,
                              json={"model": "acme/client-a@v1", "prompt": "Rewrite in Acme house style: hi", "max_tokens": 2})
    assert response.status_code == 409 and "acme/shared-base@v1" in response.json()["error"]["message"]


def test_the_hybrid_needs_base_data_and_base_data_needs_the_hybrid(tmp_path):
    with pytest.raises(ValueError, match="--base-data"):
        hybrid_config(tmp_path, base_data=[])
    with pytest.raises(ValueError, match="add hybrid to --methods"):
        hybrid_config(tmp_path, methods=["full", "lora"])
    with pytest.raises(ValueError, match="each client's held-out rows"):
        hybrid_config(tmp_path, eval_data=[tmp_path / "shared.jsonl"])
