"""The data pipeline: data files -> validated, tokenized, masked examples with provenance; batching for training."""

from adaptlab.data.bad_rows import BadRow
from adaptlab.data.classification import LabelledText, prepare_classification_data
from adaptlab.data.collate import count_target_tokens, labelled_batch, pack_examples, packed_batch, pad_batch
from adaptlab.data.example import IGNORE_INDEX, Example
from adaptlab.data.options import DataOptions
from adaptlab.data.prepare import PreparedData, prepare_data

__all__ = [
    "IGNORE_INDEX",
    "BadRow",
    "DataOptions",
    "Example",
    "LabelledText",
    "PreparedData",
    "count_target_tokens",
    "labelled_batch",
    "pack_examples",
    "packed_batch",
    "pad_batch",
    "prepare_classification_data",
    "prepare_data",
]
