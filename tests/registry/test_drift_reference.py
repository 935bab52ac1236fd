"""The drift reference profile registered with a version: built from the run's training prompts with the real
encoder, stored as a content-addressed file of the version (in its audit entry, carried by bundles), and absent,
with a warning, when the training data is gone or changed, or when registration is told to skip it."""

import json
import logging

from adaptlab.data.prompt_profile import DRIFT_PROFILE_FILE
from adaptlab.registry.drift_reference import drift_profile_entry, read_drift_profile
from tests.encoder_support import needs_encoder

from .runs import write_dataset

pytestmark = needs_encoder


def test_registration_stores_a_profile_of_the_training_prompts(registry, admin, new_run):
    registry.create_tenant(admin, "acme")
    record = registry.register(admin, new_run(), "acme/bot", profile_prompts=5)
    stored = drift_profile_entry(record)
    assert stored is not None
    profile = read_drift_profile(registry.blobs, record)
    assert profile.embeddings.shape == (5, 384)
    assert profile.prompts_seen == 12 and sorted(profile.prompt_lengths_chars) == sorted(len(f"q{i}") for i in range(12))
    registered = next(entry for entry in registry.audit_entries(admin) if entry.action == "version.register")
    assert registered.after["files"][DRIFT_PROFILE_FILE] == stored.sha256


def test_no_profile_when_skipped_or_when_the_training_data_changed(registry, admin, new_run, tmp_path, caplog):
    registry.create_tenant(admin, "acme")
    assert drift_profile_entry(registry.register(admin, new_run(), "acme/bot")) is None  # the Python API's default: none
    changed = write_dataset(tmp_path / "changed")
    run = new_run(data_files=changed)
    (tmp_path / "changed" / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "edited"}]}) + "\n")
    with caplog.at_level(logging.WARNING, logger="adaptlab.registry.drift_reference"):
        record = registry.register(admin, run, "acme/bot", profile_prompts=5)
    assert drift_profile_entry(record) is None and read_drift_profile(registry.blobs, record) is None
    assert "changed since the run" in caplog.text and "train.jsonl" in caplog.text


def test_a_bundle_carries_the_profile(registry, admin, new_run, tmp_path):
    registry.create_tenant(admin, "acme")
    record = registry.register(admin, new_run(), "acme/bot", profile_prompts=4)
    registry.export_bundle(admin, record.ref, tmp_path / "bot.tar")
    imported = registry.import_bundle(admin, tmp_path / "bot.tar", name="bot-copy")
    assert drift_profile_entry(imported).sha256 == drift_profile_entry(record).sha256


def test_cli_registers_with_a_profile_by_default(run_cli, new_run):
    run_cli("tenant", "create", "acme")
    output = run_cli("register", str(new_run()), "--name", "acme/bot").output
    assert DRIFT_PROFILE_FILE in output
    assert DRIFT_PROFILE_FILE not in run_cli("register", str(new_run()), "--name", "acme/bot", "--drift-profile-prompts", "0").output
