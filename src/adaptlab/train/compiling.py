"""`--compile-layers`: compile each decoder layer with torch.compile (inductor) before training.

Each layer is compiled in place (`nn.Module.compile`), so parameter names, checkpoints and saved
artifacts are unchanged. The layers share one module class, so the first layer's compilation serves the
others. Packed rows all have max_seq_len tokens, so shapes stay fixed except in an epoch's last, shorter
batch; a second shape makes torch recompile once with dynamic sizes. Compilation happens in the first
forward pass: the first training step's counts as training time (a step-0 evaluation's does not).
Off by default: bench/README.md ("Training levers") has the measured figures.
"""

from torch import nn

from adaptlab.errors import ConfigError


def compile_decoder_layers(model: nn.Module) -> int:
    """Compile the decoder layers of `model` (plain or PEFT) in place; returns how many."""
    language_model = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = language_model.get_decoder() if hasattr(language_model, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(f"--compile-layers: {type(language_model).__name__}'s decoder has no list of layers to compile")
    for layer in layers:
        layer.compile()
    return len(layers)
