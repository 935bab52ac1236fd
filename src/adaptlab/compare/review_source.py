"""The prompts and answers of a human review drawn from a comparison (`adaptlab review create --compare`): its
held-out rows, split again from compare.yaml exactly as the comparison split them (checked against the data hashes
report.json recorded), answered greedily by two of its trained runs."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from adaptlab.compare.config import CompareConfig
from adaptlab.compare.runner import COMPARE_CONFIG_FILE
from adaptlab.compare.schema import read_comparison
from adaptlab.data.formats import Conversation, Prompt, Sample
from adaptlab.errors import ArtifactError, ConfigError
from adaptlab.registry.review_answers import AnsweredPrompt, OnBatch, model_answers, pair_answers


@dataclass(frozen=True)
class ComparisonPrompts:
    items: list[AnsweredPrompt]
    source: str
    source_sha256: str


def comparison_answers(
    folder: Path, pair: tuple[str, str], n: int | None, max_new_tokens: int, batch_size: int, on_batch: OnBatch | None = None
) -> ComparisonPrompts:
    """The first `n` held-out rows that have a prompt, answered by the `pair` (candidate, baseline) of methods."""
    from adaptlab.data import prepare_data
    from adaptlab.methods import get_method
    from adaptlab.models import load_tokenizer, resolve_model

    folder = Path(folder).resolve()
    comparison = read_comparison(folder)
    runs = {result.method: folder / result.run_dir for result in comparison.methods}
    check_pair(pair, list(runs), folder)
    config = read_compare_config(folder)
    base = resolve_model(config.model)
    if base.weights_sha256 != comparison.base_model.weights_sha256:
        raise ArtifactError(f"{folder}: the base {config.model} no longer has the weights the comparison trained on")
    tokenizer = load_tokenizer(base.path)
    data = prepare_data(config.data, config.eval_data, tokenizer, config.model_copy(update={"train_on_prompt": False}))
    recorded = {(file.path, file.sha256) for file in comparison.data.files}
    changed = sorted(file.path for file in data.info.files if (file.path, file.sha256) not in recorded)
    if changed:
        raise ArtifactError(f"{folder}: data changed since the comparison ran: {', '.join(changed)}; review prompts must be its held-out rows")
    prompts = held_out_prompts(data.eval_samples)[:n]
    if not prompts:
        raise ConfigError(f"{folder}: no held-out row has a prompt and an answer (plain-text rows cannot be reviewed)")
    answers = [model_answers(get_method(method).load_trained(base, runs[method]), tokenizer, prompts, max_new_tokens, batch_size, on_batch)
               for method in pair]
    return ComparisonPrompts(
        items=pair_answers(prompts, *answers),
        source=f"{len(prompts)} of the {comparison.data.eval_examples} held-out rows of the comparison in {folder}",
        source_sha256=data.info.tokenized_sha256,
    )


def check_pair(pair: tuple[str, str], compared: list[str], folder: Path) -> None:
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ConfigError(f"--pair {','.join(pair)}: name two different methods, candidate first, e.g. --pair lora,full")
    missing = [method for method in pair if method not in compared]
    if missing:
        raise ConfigError(f"--pair: {folder} compared {', '.join(compared)}, not {', '.join(missing)}")


def read_compare_config(folder: Path) -> CompareConfig:
    file = folder / COMPARE_CONFIG_FILE
    try:
        return CompareConfig.model_validate(yaml.safe_load(file.read_text(encoding="utf-8")))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ArtifactError(f"{file}: cannot read the comparison's config: {exc}") from exc


def held_out_prompts(samples: Sequence[Sample]) -> list[Prompt]:
    """What compare's task metric asks of each held-out conversation: the turns before its first reply, that reply
    being the reference. Plain-text rows have no prompt and are left out."""
    prompts = []
    for sample in samples:
        if not isinstance(sample, Conversation):
            continue
        first = next((index for index, (role, _) in enumerate(sample.messages) if role == "assistant"), 0)
        if first and sample.messages[first - 1][0] == "user":
            prompts.append(Prompt(Conversation(sample.messages[:first]), sample.messages[first][1]))
    return prompts
