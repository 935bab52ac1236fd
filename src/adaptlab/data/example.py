"""`Example`: one tokenized training or eval example, the unit everything after data preparation works on."""

from dataclasses import dataclass

IGNORE_INDEX = -100  # label of a token that carries no loss (PyTorch cross-entropy's ignore_index)


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # same length as input_ids, not shifted; IGNORE_INDEX where there is no loss

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.labels):
            raise ValueError(f"Example: {len(self.input_ids)} input_ids but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def target_tokens(self) -> int:
        """Tokens the loss is computed on: labels after the causal shift that are not IGNORE_INDEX."""
        return sum(label != IGNORE_INDEX for label in self.labels[1:])
