"""Model cards: Hugging Face card metadata (base_model, library_name, datasets, license,
model-index) plus our lineage and approval record, rendered from a VersionRecord."""

from pathlib import Path, PurePath

import yaml

from adaptlab.registry.entities import VersionRecord

TEMPLATE = Path(__file__).with_name("card_template.md.jinja")
QUALITY_METRICS = ("eval_loss", "eval_perplexity")


def render_card(record: VersionRecord) -> str:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from adaptlab.objectives import recorded_objective  # loads torch: only when a card is rendered

    lineage = record.lineage
    pipeline_tag = recorded_objective(lineage.config).pipeline_tag
    eval_files = [PurePath(f.path).name for f in lineage.data.files if f.role == "eval"]
    quality = {name: value for name, value in record.metrics.items() if name in QUALITY_METRICS or name in lineage.evaluation_metrics}
    data = ModelCardData(
        base_model=lineage.base_model.model_id,
        library_name="peft" if record.is_adapter else "transformers",
        datasets=sorted({PurePath(f.path).name for f in lineage.data.files}),
        license=record.license or "other",
        model_name=record.ref,
        pipeline_tag=pipeline_tag,
        tags=["adaptlab", lineage.method],
        eval_results=[
            EvalResult(
                task_type=pipeline_tag,
                dataset_type="local-file",
                dataset_name=", ".join(eval_files) or "held-out split of the training data",
                metric_type=name,
                metric_value=value,
            )
            for name, value in sorted(quality.items())
        ]
        or None,
    )
    card = ModelCard.from_template(
        data,
        template_path=str(TEMPLATE),
        record=record,
        lineage=lineage,
        config_yaml=yaml.safe_dump(lineage.config, sort_keys=True).rstrip(),
        cell=_cell,
    )
    return str(card)


def _cell(value: object) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")
