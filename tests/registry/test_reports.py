"""Comparison reports attached to a version: stored as blobs by hash, audited, read back checked, kept by gc."""

import pytest

from adaptlab.errors import ArtifactError
from adaptlab.registry.errors import AccessDeniedError
from tests.console.conftest import write_report_folder


@pytest.fixture
def registered(registry, admin, new_run):
    registry.create_tenant(admin, "acme")
    return registry.register(admin, new_run(), "acme/bot")


def test_attach_stores_report_files_by_hash_and_audits_them(registry, admin, registered, tmp_path):
    folder = write_report_folder(tmp_path / "cmp")
    attached = registry.attach_report(admin, registered.ref, folder)
    assert [f.path for f in attached.files] == ["report.html", "report.md"]
    entry = registry.audit_entries(admin)[-1]
    assert entry.action == "version.attach_report" and entry.after["files"] == {f.path: f.sha256 for f in attached.files}
    assert registry.reports(admin, registered.ref) == [attached]

    (folder / "report.html").write_text("changed after attaching")
    copy = tmp_path / "copy.html"
    registry.fetch_report_file(admin, registered.ref, attached.id, "report.html", copy)
    assert "LoRA vs full fine-tuning" in copy.read_text()
    assert registry.gc(admin).blobs_deleted == []  # report blobs are referenced


def test_attach_needs_a_report_and_the_register_role(registry, admin, registered, tmp_path):
    with pytest.raises(ArtifactError, match="no report.html here"):
        registry.attach_report(admin, registered.ref, tmp_path)
    reader = registry.authenticate(registry.create_token(admin, "acme", "reader", "rita"))
    with pytest.raises(AccessDeniedError, match="has role reader"):
        registry.attach_report(reader, registered.ref, write_report_folder(tmp_path / "cmp"))


def test_attach_report_cli(run_cli, registered, tmp_path):
    result = run_cli("attach-report", registered.ref, str(write_report_folder(tmp_path / "cmp")))
    assert f"attached report #1 to {registered.ref}: report.html" in result.output


def test_audit_verification_names_a_report_file_changed_behind_the_logs_back(registry, admin, registered, tmp_path):
    from sqlalchemy import text

    registry.attach_report(admin, registered.ref, write_report_folder(tmp_path / "cmp"))
    assert registry.verify_audit(admin).ok
    with registry.engine.begin() as connection:
        connection.execute(text("UPDATE report_files SET sha256 = :forged WHERE path = 'report.html'"), {"forged": "f" * 64})
    problems = registry.verify_audit(admin).unaccounted
    assert len(problems) == 1 and f"report_attachments row 1 (report #1 attached to {registered.ref}) has files" in problems[0]
