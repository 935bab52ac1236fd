"""Parameter counts from the weight files, whichever format the base ships."""

import pytest

from adaptlab.errors import ArtifactError
from adaptlab.models.hashing import count_parameters


def test_a_pickle_only_base_counts_the_same_parameters_as_its_safetensors(tiny_model, pickle_only_base):
    assert count_parameters(pickle_only_base, allow_pickle=True) == count_parameters(tiny_model.path) > 0


def test_pickle_weights_are_not_read_without_allow_pickle(pickle_only_base):
    with pytest.raises(ArtifactError, match="--allow-pickle"):
        count_parameters(pickle_only_base)


def test_a_folder_without_weights_is_an_error_not_zero(tmp_path):
    with pytest.raises(ArtifactError, match="no weight files"):
        count_parameters(tmp_path)
