"""Evaluation: held-out loss/perplexity, task metrics, forgetting."""
