"""Several processes registering and promoting at once never lose or duplicate a version, and a
writer killed mid-registration leaves nothing half-registered."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adaptlab.registry import GatePolicy
from adaptlab.registry.tables import ModelVersion, VersionFile
from adaptlab.schemas.run_record import read_run_record

WORKER = Path(__file__).with_name("register_worker.py")
PROCESSES, REGISTRATIONS = 8, 25


def _start(location, run_dir: Path, name: str, count: int) -> subprocess.Popen:
    command = [sys.executable, str(WORKER), str(location.root), location.db or "-", str(run_dir), name, str(count)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _prepare(location, admin, new_run, runs: int) -> list[Path]:
    with location.open() as registry:
        registry.create_tenant(admin, "acme")
        registry.set_gates(admin, "acme/bot", GatePolicy(required_approvals=0))
    return [new_run(eval_loss=1.0 + i / 10, evaluation={"relative_score": 90.0 + i}) for i in range(runs)]


def _assert_consistent(registry, admin, expected_versions: int | None = None) -> list:
    versions = registry.list_versions(admin, "acme/bot")
    numbers = [v.version for v in versions]
    assert numbers == list(range(1, len(numbers) + 1)), "versions must be contiguous, without gaps or duplicates"
    if expected_versions is not None:
        assert len(numbers) == expected_versions
    for version in versions:
        for stored in version.files:
            assert registry.blobs.has(stored.sha256), f"{version.ref} {stored.path}: blob missing"
    verification = registry.verify_audit(admin)
    assert verification.ok, verification.problem
    return versions


def test_eight_processes_register_and_promote_two_hundred_versions(registry_location, admin, new_run):
    run_dirs = _prepare(registry_location, admin, new_run, PROCESSES)
    workers = [_start(registry_location, run_dir, "acme/bot", REGISTRATIONS) for run_dir in run_dirs]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err
    reported = sorted(int(line) for out, _err in outputs for line in out.split())
    assert reported == list(range(1, PROCESSES * REGISTRATIONS + 1))

    with registry_location.open() as registry:
        versions = _assert_consistent(registry, admin, expected_versions=PROCESSES * REGISTRATIONS)
        by_run = {}
        for version in versions:
            by_run.setdefault(version.lineage.run_id, []).append(version.version)
        assert sorted(len(numbers) for numbers in by_run.values()) == [REGISTRATIONS] * PROCESSES
        history = registry.alias_history(admin, "acme/bot", alias="staging")
        assert sorted(event.version for event in history) == list(range(1, PROCESSES * REGISTRATIONS + 1))
        actions = [entry.action for entry in registry.audit_entries(admin)]
        assert actions.count("version.register") == actions.count("alias.promote") == PROCESSES * REGISTRATIONS


def test_writer_killed_mid_registration_leaves_a_consistent_registry(registry_location, admin, new_run):
    victim_run, survivor_run = _prepare(registry_location, admin, new_run, 2)
    victim = _start(registry_location, victim_run, "acme/bot", 0)
    survivor = _start(registry_location, survivor_run, "acme/bot", 15)
    deadline = time.monotonic() + 60
    with registry_location.open() as registry:
        while _version_count(registry) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
        assert victim.wait() == -signal.SIGKILL
        _out, err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, err

        versions = _assert_consistent(registry, admin)
        survivor_run_id = read_run_record(survivor_run).run_id
        assert sum(v.lineage.run_id == survivor_run_id for v in versions) == 15
        registry.gc(admin)
        with Session(registry.engine) as session:
            referenced = set(session.scalars(select(VersionFile.sha256)))
        assert set(registry.blobs.stored_hashes()) == referenced
        assert registry.register(admin, victim_run, "acme/bot").version == len(versions) + 1


def _version_count(registry) -> int:
    with Session(registry.engine) as session:
        return session.scalar(select(func.count()).select_from(ModelVersion))
