"""The drift reference of a registered version: a profile of its training prompts (data/prompt_profile.py),
stored as one more content-addressed file of the version (`adaptlab_drift_profile.safetensors`), so the
audit entry of the registration records its hash and bundles carry it. Built at registration from the
training files the run recorded, when they are still there unchanged and the sentence encoder is installed;
otherwise the version has none, registration says why, and monitoring reports "no reference"."""

import logging
import tempfile
from pathlib import Path

from adaptlab.data.options import FORMAT_FIELDS, MAX_LINE_BYTES
from adaptlab.data.prompt_profile import DRIFT_PROFILE_FILE, PromptProfile, build_prompt_profile, read_prompt_profile, write_prompt_profile
from adaptlab.data.prompts import file_prompts
from adaptlab.errors import AdaptlabError
from adaptlab.models.hashing import file_sha256
from adaptlab.registry.blobs import BlobStore
from adaptlab.registry.entities import StoredFile, VersionRecord
from adaptlab.registry.lineage import CapturedRun, Lineage

log = logging.getLogger(__name__)


def with_drift_profile(captured: CapturedRun, embed_prompts: int, scratch: Path) -> CapturedRun:
    """`captured` plus a profile of its training prompts written under `scratch` (embedding `embed_prompts` of them);
    unchanged when the folder brings its own profile (an imported bundle), when `embed_prompts` is 0, or when the
    training data or the encoder is unavailable (a warning says which)."""
    if DRIFT_PROFILE_FILE in captured.files or embed_prompts <= 0:
        return captured
    try:
        profile = _profile_training_prompts(captured.lineage, embed_prompts)
    except AdaptlabError as exc:
        log.warning("registered without a drift reference profile: %s", exc)
        return captured
    path = scratch / DRIFT_PROFILE_FILE
    write_prompt_profile(profile, path)
    return CapturedRun(captured.lineage, captured.artifact_kind, {**captured.files, DRIFT_PROFILE_FILE: path})


def drift_profile_entry(record: VersionRecord) -> StoredFile | None:
    return next((stored for stored in record.files if stored.path == DRIFT_PROFILE_FILE), None)


def read_drift_profile(blobs: BlobStore, record: VersionRecord) -> PromptProfile | None:
    """The version's profile (its blob checked against its hash), or None for a version registered without one."""
    stored = drift_profile_entry(record)
    if stored is None:
        return None
    with tempfile.TemporaryDirectory(prefix="adaptlab-profile-") as scratch:
        path = Path(scratch) / DRIFT_PROFILE_FILE
        blobs.fetch(stored.sha256, path, label=f"{record.ref} file {stored.path}")
        return read_prompt_profile(path)


class _NoTrainingPrompts(AdaptlabError):
    """The run's training prompts cannot be read back as they were."""


def _profile_training_prompts(lineage: Lineage, embed_prompts: int) -> PromptProfile:
    train_files = [info for info in lineage.data.files if info.role == "train"]
    if not train_files:
        raise _NoTrainingPrompts(f"run {lineage.run_id} records no training files")
    if lineage.data.format not in FORMAT_FIELDS:
        raise _NoTrainingPrompts(f"the training data's recorded format {lineage.data.format!r} is not one prompts can be read in")
    for info in train_files:
        path = Path(info.path)
        if not path.is_file():
            raise _NoTrainingPrompts(f"training file {path} is no longer there")
        if file_sha256(path) != info.sha256:
            raise _NoTrainingPrompts(f"training file {path} changed since the run (sha256 differs from run.json)")
    from adaptlab.models.encoder import load_sentence_encoder  # loads transformers: only when profiling

    encoder = load_sentence_encoder()
    config = lineage.config  # the training config: its data options say how the rows were read
    prompts = file_prompts(
        [Path(info.path) for info in train_files],
        lineage.data.format,
        config.get("columns") or {},
        config.get("max_line_bytes", MAX_LINE_BYTES),
    )
    profile = build_prompt_profile(prompts, encoder, embed_prompts)
    if profile.prompts_seen == 0:
        raise _NoTrainingPrompts(f"no usable prompts in {', '.join(info.path for info in train_files)}")
    return profile
