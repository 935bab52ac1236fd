"""Prompts read back from training files, the bounded sample of them, and the profile file (safetensors)."""

import json

import numpy as np
import pytest

from adaptlab.data.formats import Conversation, Text
from adaptlab.data.prompt_profile import PromptProfile, build_prompt_profile, read_prompt_profile, write_prompt_profile
from adaptlab.data.prompts import chat_prompt_text, file_prompts, prompt_text, reservoir_sample
from adaptlab.errors import ArtifactError
from adaptlab.models.encoder import ENCODER_NAME, load_sentence_encoder
from tests.encoder_support import needs_encoder


def test_a_prompt_is_the_text_or_the_system_and_user_turns():
    assert prompt_text(Text("once upon a time")) == "once upon a time"
    conversation = Conversation((("system", "be brief"), ("user", "hi"), ("assistant", "hello"), ("user", "bye")))
    assert prompt_text(conversation) == "be brief\nhi\nbye"
    assert chat_prompt_text([("user", "hi"), ("assistant", "hello")]) == "hi"


def test_file_prompts_follow_the_format_and_skip_bad_rows(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"instruction": "Name a colour", "input": "", "output": "red"}, {"oops": 1}, {"instruction": "Add", "input": "2+2", "output": "4"}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    assert list(file_prompts([path], "alpaca")) == ["Name a colour", "Add\n\n2+2"]
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text(json.dumps({"question": "why?", "output": "because"}) + "\n")
    assert list(file_prompts([renamed], "alpaca", {"instruction": "question"})) == ["why?"]


def test_reservoir_sample_is_bounded_and_uniform():
    sample, seen = reservoir_sample((str(i) for i in range(1000)), 100, seed=1)
    assert seen == 1000 and len(sample) == 100 and len(set(sample)) == 100
    assert 300 < np.mean([int(item) for item in sample]) < 700  # uniform over 0..999, not the first 100
    assert reservoir_sample(iter(["a", "b"]), 10) == (["a", "b"], 2)


def test_profile_round_trips_through_safetensors(tmp_path):
    profile = PromptProfile(np.eye(3, 4, dtype=np.float32), np.array([5, 7, 9, 11]), prompts_seen=40, encoder=ENCODER_NAME)
    path = tmp_path / "profile.safetensors"
    write_prompt_profile(profile, path)
    loaded = read_prompt_profile(path)
    np.testing.assert_array_equal(loaded.embeddings, profile.embeddings)
    np.testing.assert_array_equal(loaded.prompt_lengths_chars, profile.prompt_lengths_chars)
    assert (loaded.prompts_seen, loaded.encoder, loaded.embedded_prompts) == (40, ENCODER_NAME, 3)


def test_a_file_that_is_no_profile_is_refused_with_its_path(tmp_path):
    from safetensors.numpy import save_file

    other = tmp_path / "weights.safetensors"
    save_file({"weight": np.zeros(2, dtype=np.float32)}, str(other))
    with pytest.raises(ArtifactError, match=f"{other}: not a prompt profile"):
        read_prompt_profile(other)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00not safetensors")
    with pytest.raises(ArtifactError, match=f"{garbage}: unreadable prompt profile"):
        read_prompt_profile(garbage)


@needs_encoder
def test_build_profile_embeds_a_bounded_sample():
    prompts = [f"question number {i} about shipping" for i in range(50)]
    profile = build_prompt_profile(iter(prompts), load_sentence_encoder(), embed_prompts=8)
    assert profile.embeddings.shape == (8, 384) and profile.prompts_seen == 50
    assert len(profile.prompt_lengths_chars) == 50 and set(profile.prompt_lengths_chars) <= {len(p) for p in prompts}
