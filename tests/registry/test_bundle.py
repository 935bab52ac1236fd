"""Export/import bundles carry files, lineage and a manifest of hashes; import checks them all."""

import io
import json
import tarfile

import pytest

from adaptlab.errors import ArtifactError
from adaptlab.registry import Registry


@pytest.fixture
def exported(registry, admin, new_run, tmp_path):
    registry.create_tenant(admin, "acme")
    registry.register(admin, new_run(), "acme/bot")
    registry.register(admin, new_run(evaluation={"relative_score": 97.0}), "acme/bot", license="apache-2.0")
    bundle = tmp_path / "bundles" / "bot-v2.tar"
    registry.export_bundle(admin, "acme/bot@v2", bundle)
    return registry, bundle


def test_roundtrip_into_another_registry(exported, admin, tmp_path):
    source, bundle = exported
    original = source.get_version(admin, "acme/bot@v2")
    with Registry.open(tmp_path / "elsewhere") as target:
        target.create_tenant(admin, "acme")
        imported = target.import_bundle(admin, bundle)
        copy = target.checkout(admin, imported.ref)
    assert imported.ref == "acme/bot@v1"
    assert [(f.path, f.sha256) for f in imported.files] == [(f.path, f.sha256) for f in original.files]
    assert imported.lineage.model_dump(exclude={"imported_from"}) == original.lineage.model_dump(exclude={"imported_from"})
    assert imported.lineage.imported_from.startswith("acme/bot@v2 (bundle sha256 ")
    assert imported.metrics == original.metrics and imported.license == "apache-2.0"
    assert imported.approvals == []
    assert (copy.local_path / "evaluation.json").is_file()


def test_import_under_another_name_appends_a_version_and_audits(exported, admin):
    registry, bundle = exported
    assert registry.import_bundle(admin, bundle).ref == "acme/bot@v3"
    assert registry.import_bundle(admin, bundle, name="bot-copy").ref == "acme/bot-copy@v1"
    actions = [e.action for e in registry.audit_entries(admin)]
    assert actions[-4:] == ["version.register", "version.export", "version.import", "version.import"]
    assert registry.verify_audit(admin).ok


def _rewrite(bundle, out, change):
    """Copy a bundle tar, passing each member's (name, bytes) through `change`."""
    with tarfile.open(bundle) as source, tarfile.open(out, "w") as target:
        for member in source.getmembers():
            name, data = change(member.name, source.extractfile(member).read())
            if name is None:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out


def test_tampered_file_is_refused_naming_it(exported, admin, tmp_path):
    registry, bundle = exported

    def flip_weights(name, data):
        return name, data[:-1] + bytes([data[-1] ^ 1]) if name.endswith(".safetensors") else data

    with pytest.raises(ArtifactError, match="files/adapter_model.safetensors hashes to .* expected sha256"):
        registry.import_bundle(admin, _rewrite(bundle, tmp_path / "flipped.tar", flip_weights))
    assert registry.list_versions(admin, "acme/bot")[-1].version == 2


def test_extra_missing_or_unlisted_members_are_refused(exported, admin, tmp_path):
    registry, bundle = exported
    with pytest.raises(ArtifactError, match="not listed in manifest.json"):
        registry.import_bundle(
            admin, _rewrite(bundle, tmp_path / "extra.tar", lambda n, d: ("files/../evil.py" if n == "files/run.json" else n, d))
        )
    with pytest.raises(ArtifactError, match="missing: files/run.json"):
        registry.import_bundle(admin, _rewrite(bundle, tmp_path / "missing.tar", lambda n, d: (None if n == "files/run.json" else n, d)))

    def edit_manifest(name, data):
        if name != "manifest.json":
            return name, data
        manifest = json.loads(data)
        manifest["version"]["files"] = manifest["version"]["files"][:-1]
        return name, json.dumps(manifest).encode()

    with pytest.raises(ArtifactError, match="not listed in manifest.json"):
        registry.import_bundle(admin, _rewrite(bundle, tmp_path / "edited.tar", edit_manifest))
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    with pytest.raises(ArtifactError, match="not a readable bundle"):
        registry.import_bundle(admin, tmp_path / "junk.tar")
