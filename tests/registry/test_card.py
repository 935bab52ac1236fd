"""Model cards carry Hugging Face metadata plus our lineage and approvals."""

import yaml
from huggingface_hub import ModelCard


def test_card_metadata_and_body(registry, admin, new_run, tiny_model):
    registry.create_tenant(admin, "acme")
    registry.register(
        admin, new_run(eval_loss=1.5, evaluation={"relative_score": 97.25, "forgetting_percent": 1.5}), "acme/bot", license="apache-2.0"
    )
    registry.approve(admin, "acme/bot@v1", "reviewed 50 samples | all fine", by="reviewer-1")
    text = registry.card(admin, "acme/bot@v1")

    card = ModelCard(text)
    metadata = card.data.to_dict()
    assert metadata["base_model"] == tiny_model.model_id
    assert metadata["library_name"] == "peft"
    assert metadata["license"] == "apache-2.0"
    assert metadata["datasets"] == ["eval.jsonl", "train.jsonl"]
    results = metadata["model-index"][0]["results"]
    reported = {m["type"]: m["value"] for result in results for m in result["metrics"]}
    assert reported == {
        "eval_loss": 1.5,
        "eval_perplexity": registry.get_version(admin, "acme/bot@v1").metrics["eval_perplexity"],
        "relative_score": 97.25,
        "forgetting_percent": 1.5,
    }
    assert metadata["model-index"][0]["name"] == "acme/bot@v1"
    assert yaml.safe_load(text.split("---")[1]) == metadata

    assert tiny_model.weights_sha256 in card.text
    for data_file in registry.lineage(admin, "acme/bot@v1").data.files:
        assert data_file.sha256 in card.text
    assert "reviewer-1" in card.text and "reviewed 50 samples \\| all fine" in card.text
    assert "lora_r: 4" in card.text
    assert "0123abc" in card.text
