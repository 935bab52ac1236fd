"""Data governance: gates on the data checks (--require-pii-clean, --max-duplicate-rate) and
`lineage --uses-data` (which versions used a file, directly or through parents)."""

import hashlib
import json
import shutil

import pytest

from adaptlab.errors import ConfigError
from adaptlab.registry import Principal, Role
from adaptlab.registry.errors import GateRefusedError

from .runs import data_quality, write_dataset


def distinct_dataset(folder, tag: str):
    """write_dataset's files with a row of their own, so their hashes differ from every other dataset's."""
    infos = []
    for info in write_dataset(folder):
        path = folder / f"{info.role}.jsonl"
        with path.open("a") as handle:
            handle.write(json.dumps({"messages": [{"role": "user", "content": tag}, {"role": "assistant", "content": tag}]}) + "\n")
        infos.append(info.model_copy(update={"sha256": hashlib.sha256(path.read_bytes()).hexdigest()}))
    return infos


@pytest.fixture
def acme(registry, admin):
    registry.create_tenant(admin, "acme")
    return registry


def test_data_gates_refuse_unredacted_pii_and_too_many_duplicates(acme, admin, new_run, run_cli):
    run_cli("gates", "set", "acme/bot", "--require-pii-clean", "--max-duplicate-rate", "0.05", "--approvals", "0")
    acme.register(admin, new_run(data_quality=data_quality(unredacted=3, duplicate_rate=0.1)), "acme/bot")
    acme.register(admin, new_run(data_quality=data_quality(pii_mode="off", dedup_mode="off")), "acme/bot")
    acme.register(admin, new_run(data_quality=data_quality(pii_mode="redact", duplicate_rate=0.05)), "acme/bot")

    with pytest.raises(GateRefusedError) as dirty:
        acme.promote(admin, "acme/bot@v1", "production")
    assert dirty.value.failures == ["metric duplicate_rate: 0.1 (needs ≤ 0.05)", "metric pii_unredacted_findings: 3 (needs ≤ 0)"]
    with pytest.raises(GateRefusedError) as unchecked:
        acme.promote(admin, "acme/bot@v2", "production")
    assert [failure.split(":")[0] for failure in unchecked.value.failures] == ["metric duplicate_rate", "metric pii_unredacted_findings"]
    assert all("missing" in failure for failure in unchecked.value.failures)
    acme.promote(admin, "acme/bot@v3", "production")
    assert acme.get_version(admin, "acme/bot@v3").aliases == ["production"]


def test_uses_data_finds_the_trained_version_and_the_combination_built_from_it(acme, admin, new_run, tmp_path, run_cli):
    from adaptlab.adapters.combine import combine_adapters

    personal = distinct_dataset(tmp_path / "personal", "personal")
    tone = acme.register(admin, new_run(adapter_seed=1, data_files=personal), "acme/tone-bot")
    facts = acme.register(admin, new_run(adapter_seed=2, data_files=distinct_dataset(tmp_path / "other", "other")), "acme/facts-bot")
    acme.register(admin, new_run(adapter_seed=3, data_files=distinct_dataset(tmp_path / "third", "third")), "acme/unrelated-bot")
    sources = [acme.checkout(admin, version.ref).local_path for version in (tone, facts)]
    combine_adapters(sources, [0.5, 0.5], "linear", tmp_path / "combined")
    for source in sources:
        shutil.rmtree(source)
    acme.register(admin, tmp_path / "combined", "acme/combined-bot")
    child_run = new_run(adapter_seed=4, data_files=distinct_dataset(tmp_path / "fourth", "fourth"))
    acme.register(admin, child_run, "acme/child-bot", parents=["acme/combined-bot@v1"])

    held_out_file = tmp_path / "personal" / "eval.jsonl"
    sha256 = hashlib.sha256(held_out_file.read_bytes()).hexdigest()
    expected = ["acme/tone-bot@v1", "acme/combined-bot@v1", "acme/child-bot@v1"]
    assert [version.ref for version in acme.versions_using_data(admin, sha256)] == expected
    by_file = json.loads(run_cli("lineage", "--uses-data", str(held_out_file), "--json").output)
    assert by_file == {"sha256": sha256, "versions": expected}
    assert "acme/combined-bot@v1" in run_cli("lineage", "--uses-data", sha256).output

    other_tenant = Principal(name="globex/reader", role=Role.reader, tenant="globex")
    acme.create_tenant(admin, "globex")
    assert acme.versions_using_data(other_tenant, sha256) == []
    assert acme.versions_using_data(admin, "0" * 64) == []


def test_uses_data_refuses_what_is_neither_a_hash_nor_a_file(run_cli, registry, tmp_path):
    result = run_cli("lineage", "--uses-data", str(tmp_path / "missing.jsonl"), ok=False)
    assert isinstance(result.exception, ConfigError) and "neither a SHA-256" in str(result.exception)
    both = run_cli("lineage", "acme/bot@v1", "--uses-data", "0" * 64, ok=False)
    assert isinstance(both.exception, ConfigError)


def test_a_combination_is_gated_on_its_sources_data_checks(acme, admin, new_run, tmp_path, run_cli):
    """Findings summed, duplicate rates weighted by checked rows; a source without a summary is named as missing."""
    from adaptlab.adapters.combine import combine_adapters

    def run(seed: int, quality):
        return new_run(adapter_seed=seed, data_files=distinct_dataset(tmp_path / f"data{seed}", f"data{seed}"), data_quality=quality)

    dirty = run(1, data_quality(unredacted=3, duplicate_rate=0.1, checked_rows=100))
    clean = run(2, data_quality(pii_mode="redact", duplicate_rate=0.0, checked_rows=300))
    unchecked = run(3, None)
    combine_adapters([dirty, clean], [0.5, 0.5], "linear", tmp_path / "checked")
    combine_adapters([clean, unchecked], [0.5, 0.5], "linear", tmp_path / "partly")
    run_cli("gates", "set", "acme/mix", "--require-pii-clean", "--max-duplicate-rate", "0.05", "--approvals", "0")
    checked = acme.register(admin, tmp_path / "checked", "acme/mix")
    acme.register(admin, tmp_path / "partly", "acme/mix")

    quality = checked.lineage.data.quality
    assert (quality.pii.mode, quality.pii.findings_by_type, quality.pii.unredacted_findings) == ("redact+report", {"EMAIL": 3}, 3)
    assert (quality.duplicates.checked_rows, quality.duplicates.rate) == (400, pytest.approx(10 / 400))
    with pytest.raises(GateRefusedError) as dirty_combination:
        acme.promote(admin, "acme/mix@v1", "production")
    assert dirty_combination.value.failures == ["metric pii_unredacted_findings: 3 (needs ≤ 0)"]
    with pytest.raises(GateRefusedError) as partly_checked:
        acme.promote(admin, "acme/mix@v2", "production")
    source = str(unchecked.resolve())
    assert partly_checked.value.failures == [
        f"metric duplicate_rate: missing (needs ≤ 0.05); no duplicate check on the data of source {source}",
        f"metric pii_unredacted_findings: missing (needs ≤ 0); no PII check on the data of source {source}",
    ]

    run_cli("gates", "set", "acme/mix", "--max-duplicate-rate", "0.05", "--approvals", "0")
    acme.promote(admin, "acme/mix@v1", "production")
    assert acme.get_version(admin, "acme/mix@v1").aliases == ["production"]
