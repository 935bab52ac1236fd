"""Registration: lineage captured from the run folder, immutable monotonic versions, content-addressed
verified artifacts, and nothing half-registered when a registration fails midway."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from adaptlab.errors import ArtifactError
from adaptlab.registry.errors import NotFoundError
from adaptlab.registry.tables import AuditRow, ModelVersion, VersionFile
from adaptlab.schemas.run_record import read_run_record

from .runs import write_dataset


@pytest.fixture
def acme(registry, admin):
    registry.create_tenant(admin, "acme")
    return registry


def test_lineage_is_captured_from_the_run_record(acme, admin, new_run):
    run = new_run(eval_loss=1.75, evaluation={"relative_score": 96.5, "forgetting_percent": 3.0})
    record = acme.register(admin, run, "support-bot", tenant="acme")
    source = read_run_record(run)

    assert record.ref == "acme/support-bot@v1"
    lineage = record.lineage
    assert lineage.base_model == source.base_model
    assert lineage.data.files == source.data.files
    assert [(f.sha256, f.rows) for f in lineage.data.files] == [
        (hashlib.sha256(Path(f.path).read_bytes()).hexdigest(), f.rows) for f in source.data.files
    ]
    assert lineage.config == source.config
    assert lineage.environment.libraries == source.environment.libraries
    assert lineage.environment.git_commit == "0123abc"
    assert record.base_weights_sha256 == source.base_model.weights_sha256
    assert record.metrics["eval_loss"] == 1.75
    assert record.metrics["relative_score"] == 96.5
    assert record.metrics["forgetting_percent"] == 3.0
    stored = {f.path: f.sha256 for f in record.files}
    assert set(stored) == {"adapter_config.json", "adapter_model.safetensors", "adaptlab_adapter.json", "run.json", "evaluation.json"}
    assert stored["adapter_model.safetensors"] == hashlib.sha256((run / "adapter_model.safetensors").read_bytes()).hexdigest()


def test_versions_are_monotonic_per_name_and_blobs_deduplicated(acme, admin, new_run):
    first, second = new_run(), new_run(eval_loss=2.0)
    numbers = [acme.register(admin, run, "acme/bot").version for run in (first, second, first)]
    other = acme.register(admin, first, "acme/other-bot")

    assert numbers == [1, 2, 3]
    assert other.version == 1
    versions = acme.list_versions(admin, "acme/bot")
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0].lineage.run_id == versions[2].lineage.run_id != versions[1].lineage.run_id
    distinct_files = {f.sha256 for v in versions + [other] for f in v.files}
    assert sorted(acme.blobs.stored_hashes()) == sorted(distinct_files)
    assert len(distinct_files) == 5  # the first run's 4 files + the second run's own run.json
    assert {f.sha256 for f in versions[1].files} - {f.sha256 for f in versions[0].files} == {
        hashlib.sha256((second / "run.json").read_bytes()).hexdigest()
    }


def test_resolve_materialises_a_verified_copy(acme, admin, new_run):
    run = new_run()
    acme.register(admin, run, "acme/bot")
    resolved = acme.checkout(admin, "acme/bot@v1")

    assert resolved.local_path is not None
    for name in ("adapter_config.json", "adapter_model.safetensors", "run.json"):
        assert (resolved.local_path / name).read_bytes() == (run / name).read_bytes()
    (resolved.local_path / "adapter_model.safetensors").write_bytes(b"tampered checkout")
    again = acme.checkout(admin, "acme/bot@v1")
    assert (again.local_path / "adapter_model.safetensors").read_bytes() == (run / "adapter_model.safetensors").read_bytes()


def test_resolved_adapter_loads_with_peft(acme, admin, new_run, tiny_model):
    import torch
    from peft import PeftModel

    from adaptlab.models import load_causal_lm

    acme.register(admin, new_run(), "acme/bot")
    resolved = acme.checkout(admin, "acme/bot")
    model = PeftModel.from_pretrained(load_causal_lm(tiny_model.path), resolved.local_path)
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    assert lora_b and all(torch.count_nonzero(p) > 0 for p in lora_b)


def test_corrupt_blob_fails_naming_file_and_expected_hash(acme, admin, new_run):
    record = acme.register(admin, new_run(), "acme/bot")
    weights = next(f for f in record.files if f.path == "adapter_model.safetensors")
    blob = Path(acme.blobs.blob_path(weights.sha256))
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")

    with pytest.raises(ArtifactError) as error:
        acme.checkout(admin, "acme/bot@v1")
    assert "adapter_model.safetensors" in str(error.value)
    assert weights.sha256 in str(error.value)
    assert "corrupt" in str(error.value)
    assert not (acme.checkout_dir / "acme" / "bot" / "v1").exists()


def test_missing_blob_is_reported(acme, admin, new_run):
    record = acme.register(admin, new_run(), "acme/bot")
    config = next(f for f in record.files if f.path == "adapter_config.json")
    Path(acme.blobs.blob_path(config.sha256)).unlink()
    with pytest.raises(ArtifactError, match=f"adapter_config.json.*missing.*{config.sha256}"):
        acme.checkout(admin, "acme/bot@v1")


def test_failure_inside_the_transaction_leaves_nothing_half_registered(acme, admin, new_run):
    acme.register(admin, new_run(), "acme/bot")
    run = new_run(eval_loss=1.0, evaluation={"relative_score": 99.0})

    def fail_on_audit_insert(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_LOG"):
            raise RuntimeError("simulated crash while writing the audit entry")

    event.listen(acme.engine, "before_cursor_execute", fail_on_audit_insert)
    try:
        with pytest.raises(RuntimeError, match="simulated crash"):
            acme.register(admin, run, "acme/bot")
    finally:
        event.remove(acme.engine, "before_cursor_execute", fail_on_audit_insert)

    with Session(acme.engine) as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 1
        assert session.scalar(select(func.count()).select_from(AuditRow)) == 2
        referenced = set(session.scalars(select(VersionFile.sha256)))
    assert acme.list_versions(admin, "acme/bot")[-1].version == 1
    orphans = set(acme.blobs.stored_hashes()) - referenced
    assert hashlib.sha256((run / "run.json").read_bytes()).hexdigest() in orphans
    assert acme.verify_audit(admin).ok

    report = acme.gc(admin)
    assert set(report.blobs_deleted) == orphans
    assert report.bytes_freed == sum(f.stat().st_size for f in run.iterdir() if hashlib.sha256(f.read_bytes()).hexdigest() in orphans)
    assert set(acme.blobs.stored_hashes()) == referenced
    assert acme.register(admin, run, "acme/bot").version == 2
    assert acme.checkout(admin, "acme/bot@v1").local_path.is_dir()


def test_unfinished_or_incomplete_runs_are_refused(acme, admin, new_run):
    running = new_run()
    record = json.loads((running / "run.json").read_text())
    (running / "run.json").write_text(json.dumps({**record, "status": "running", "artifact": None}))
    with pytest.raises(ArtifactError, match="status 'running'"):
        acme.register(admin, running, "acme/bot")

    incomplete = new_run()
    (incomplete / "adapter_model.safetensors").unlink()
    with pytest.raises(ArtifactError, match="adapter_model.safetensors.*missing"):
        acme.register(admin, incomplete, "acme/bot")

    with pytest.raises(ArtifactError, match="no run record"):
        acme.register(admin, incomplete.parent, "acme/bot")
    assert acme.list_models(admin, "acme") == []


def test_bad_evaluation_file_names_file_and_field(acme, admin, new_run):
    run = new_run()
    (run / "evaluation.json").write_text(json.dumps({"metrics": {"relative_score": "high"}}))
    with pytest.raises(ArtifactError) as error:
        acme.register(admin, run, "acme/bot")
    assert "evaluation.json" in str(error.value) and "metrics.relative_score" in str(error.value)

    (run / "evaluation.json").write_text('{"metrics": {\n  "relative_score": 9,,\n}}')
    with pytest.raises(ArtifactError, match=r"evaluation.json: line 2"):
        acme.register(admin, run, "acme/bot")


@pytest.fixture
def two_registered(acme, admin, new_run):
    """Two versions with different adapter weights, so each parent route has one right answer."""
    return [acme.register(admin, new_run(adapter_seed=seed), name) for seed, name in ((1, "acme/tone-bot"), (2, "acme/facts-bot"))]


def test_parent_from_the_flag(acme, admin, new_run, two_registered):
    record = acme.register(admin, new_run(adapter_seed=3), "acme/retrained-bot", parents=["facts-bot@v1"])
    assert record.lineage.parent_versions == ["acme/facts-bot@v1"]
    assert record.lineage.adapter_parents == []
    with pytest.raises(NotFoundError, match="v7"):
        acme.register(admin, new_run(), "acme/bot", parents=["facts-bot@v7"])


def test_parent_from_the_adapter_metadata_by_weights_hash(acme, admin, new_run, two_registered):
    facts_checkout = acme.checkout(admin, "acme/facts-bot@v1").local_path
    child = new_run(adapter_seed=3, parents=[str(facts_checkout), "/nowhere/unregistered-adapter"])
    record = acme.register(admin, child, "acme/derived-bot")

    assert record.lineage.parent_versions == ["acme/facts-bot@v1"]
    assert record.lineage.adapter_parents == [str(facts_checkout), "/nowhere/unregistered-adapter"]


def test_combined_adapter_registers_with_its_sources_as_parents(acme, admin, new_run, tmp_path, tiny_model):
    from adaptlab.adapters.combine import COMBINE_RECORD_FILE, combine_adapters

    tone = acme.register(admin, new_run(adapter_seed=1), "acme/tone-bot")
    facts = acme.register(admin, new_run(adapter_seed=2, data_files=write_dataset(tmp_path / "other-data")), "acme/facts-bot")
    sources = [acme.checkout(admin, version.ref).local_path for version in (tone, facts)]
    combined = tmp_path / "combined"
    combine_adapters(sources, [0.6, 0.4], "linear", combined)
    (combined / "evaluation.json").write_text(json.dumps({"metrics": {"relative_score": 98.0}}))
    for source in sources:  # parents are found from the hashes recorded when combining, not from these folders
        shutil.rmtree(source)
    record = acme.register(admin, combined, "acme/combined-bot")

    assert record.lineage.parent_versions == ["acme/tone-bot@v1", "acme/facts-bot@v1"]
    assert record.method == "combine:linear" and record.artifact_kind == "peft_adapter"
    assert record.base_weights_sha256 == tiny_model.weights_sha256
    assert record.lineage.config["weights"] == [0.6, 0.4]
    assert [source["path"] for source in record.lineage.config["sources"]] == [str(path.resolve()) for path in sources]
    source_files = {f.path for version in (tone, facts) for f in version.lineage.data.files}
    assert {f.path for f in record.lineage.data.files} == source_files and len(source_files) == 4
    assert record.metrics == {"relative_score": 98.0}
    stored = {f.path for f in record.files}
    assert {"adapter_model.safetensors", "adaptlab_adapter.json", COMBINE_RECORD_FILE, "evaluation.json"} <= stored
    assert "combine:linear" in acme.card(admin, record.ref)


def test_merged_model_folder_is_refused_naming_its_adapter(acme, admin, new_run, tmp_path):
    from adaptlab.adapters.merge import merge_adapter

    run = new_run()
    merge_adapter(run, tmp_path / "merged", verify=False)
    with pytest.raises(ArtifactError, match=f"merged model folders cannot be registered.*{run.resolve()}"):
        acme.register(admin, tmp_path / "merged", "acme/bot")


def test_unknown_tenant_model_and_version(registry, admin, new_run):
    with pytest.raises(NotFoundError, match="tenant create acme"):
        registry.register(admin, new_run(), "acme/bot")
    registry.create_tenant(admin, "acme")
    with pytest.raises(NotFoundError, match="no model acme/bot"):
        registry.get_version(admin, "acme/bot@v1")
    registry.register(admin, new_run(), "acme/bot")
    with pytest.raises(NotFoundError, match="latest is v1"):
        registry.get_version(admin, "acme/bot@v2")
    with pytest.raises(NotFoundError, match="alias 'production' is not set"):
        registry.get_version(admin, "acme/bot@production")


def test_artifacts_can_live_on_any_fsspec_url(tmp_path, admin, new_run):
    from adaptlab.registry import Registry

    with Registry.open(tmp_path / "registry", blobs="memory://adaptlab-test-blobs") as registry:
        registry.create_tenant(admin, "acme")
        record = registry.register(admin, new_run(), "acme/bot")
        assert not (tmp_path / "registry" / "blobs").exists()
        assert registry.blobs.describe(record.files[0].sha256).startswith("memory:///adaptlab-test-blobs/sha256/")
        resolved = registry.checkout(admin, "acme/bot@v1")
        assert {p.name for p in resolved.local_path.iterdir()} == {f.path for f in record.files}
        assert registry.gc(admin).blobs_deleted == []
