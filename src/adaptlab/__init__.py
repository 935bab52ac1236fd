"""adaptlab: LoRA or full fine-tuning? Train, measure, recommend, govern and serve adapters."""

__version__ = "0.1.0"
