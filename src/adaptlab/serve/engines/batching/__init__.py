"""The built-in engine's parts: the batching scheduler, continuous decoding, per-row LoRA and the adapter cache."""
