"""Multi-tenant serving: one base model, many registry adapters batched together behind an
OpenAI-compatible API with bearer tokens, limits and per-adapter Prometheus metrics (docs/serving.md)."""
