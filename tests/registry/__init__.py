"""Registry tests (a package, so module names do not clash with other areas)."""
