"""Weight-space diagnostics: known answers on planted updates, and the LoRA/DoRA/full update extraction."""

import json

import pytest
import torch

from adaptlab.adapters.diagnostics import (
    DiagnosticsSettings,
    effective_rank,
    intruder_dimensions,
    left_singular_vectors,
    lora_updates,
    matrix_diagnostics,
    weight_diagnostics,
)
from adaptlab.adapters.loading import load_base_with_adapters
from adaptlab.models import load_causal_lm


def random_matrix(rows: int, columns: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, columns, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def planted_update(rows: int, columns: int, rank: int, seed: int = 1) -> torch.Tensor:
    """A rank-`rank` update with equal singular values along random orthonormal directions."""
    left, _ = torch.linalg.qr(random_matrix(rows, rank, seed))
    right, _ = torch.linalg.qr(random_matrix(columns, rank, seed + 1))
    return left @ right.T


@pytest.mark.parametrize("shape", [(48, 32), (32, 48)])
@pytest.mark.parametrize("rank", [1, 3, 8])
def test_effective_rank_of_a_planted_rank_r_update_is_r(shape, rank):
    assert effective_rank(planted_update(*shape, rank)) == rank


def test_effective_rank_of_no_update_is_zero():
    assert effective_rank(torch.zeros(16, 24)) == 0


@pytest.mark.parametrize("shape", [(48, 32), (32, 48)])
def test_no_update_has_no_intruders(shape):
    base = random_matrix(*shape)
    figures = matrix_diagnostics(base, torch.zeros_like(base), DiagnosticsSettings())
    assert figures.intruder_dimensions == 0 and figures.relative_update == 0.0


@pytest.mark.parametrize("shape", [(48, 32), (32, 48)])
def test_a_high_norm_rank_one_update_orthogonal_to_the_top_directions_is_an_intruder(shape):
    base = random_matrix(*shape)
    u, s, vh = torch.linalg.svd(base, full_matrices=False)
    # a direction orthogonal to W₀'s top-10 left singular vectors: equal parts of nine lower ones (|cosine| 1/3 each)
    left = u[:, 10:19].sum(dim=1) / 3
    right = vh[-4:].sum(dim=0) / 2
    delta = 3 * float(s[0]) * torch.outer(left, right)
    settings = DiagnosticsSettings()
    figures = matrix_diagnostics(base, delta, settings)
    assert figures.intruder_dimensions == 1
    assert figures.effective_rank == 1
    assert figures.relative_update == pytest.approx(float(torch.linalg.matrix_norm(delta) / torch.linalg.matrix_norm(base)))
    # a stricter threshold cannot find more, a looser one (any cosine below 1) finds at least as many
    looser = settings.model_copy(update={"cosine_threshold": 1.0})
    assert intruder_dimensions(base, left_singular_vectors(base), delta, looser) >= 1


@pytest.mark.parametrize("shape", [(60, 40), (40, 60)])
def test_left_singular_vectors_match_the_svd(shape):
    base = random_matrix(*shape)
    expected = torch.linalg.svd(base, full_matrices=False).U
    found = left_singular_vectors(base)
    assert found.shape == expected.shape
    assert torch.allclose((found * expected).sum(0).abs(), torch.ones(min(shape), dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("dora", [False, True])
def test_lora_and_dora_updates_equal_what_peft_merges(make_adapter, tiny_model, dora):
    adapter = make_adapter("dora" if dora else "lora", seed=2, dora=dora)
    peft_model, _ = load_base_with_adapters(tiny_model.spec, [adapter])
    updates = {update.name: (update.base_weight.clone(), update.delta) for update in lora_updates(peft_model)}
    merged = peft_model.merge_and_unload()
    assert updates and {name.rsplit(".", 1)[-1] for name in updates} == {"q_proj", "v_proj"}
    for name, (base, delta) in updates.items():
        merged_weight = merged.get_submodule(name.removeprefix("base_model.model.")).weight
        assert torch.allclose(base + delta, merged_weight, atol=1e-5)


def test_report_per_module_type(make_adapter, tiny_model):
    peft_model, _ = load_base_with_adapters(tiny_model.spec, [make_adapter("lora", seed=2, rank=4)])
    report = weight_diagnostics(peft_model)
    assert [row.module_type for row in report.by_module_type] == ["q_proj", "v_proj"]
    for row in report.by_module_type:
        assert row.matrices == 2  # the tiny model has two layers
        assert 0 < row.relative_update_mean <= row.relative_update_max
        assert 1 <= row.effective_rank_max <= 4
    assert "exact" in report.decomposition


def test_full_fine_tuning_is_diagnosed_against_its_base(tiny_model):
    base = load_causal_lm(tiny_model.path)
    tuned = load_causal_lm(tiny_model.path)
    with torch.no_grad():
        tuned.model.layers[1].mlp.down_proj.weight.add_(0.01 * torch.outer(torch.ones(64), torch.ones(128)))
    report = {row.module_type: row for row in weight_diagnostics(tuned, base).by_module_type}
    assert set(report) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert report["down_proj"].effective_rank_max == 1 and report["down_proj"].relative_update_max > 0
    assert report["q_proj"].relative_update_max == 0 and report["q_proj"].intruder_dimensions_total == 0


def test_low_rank_factors_give_the_dense_effective_rank():
    left, right = random_matrix(48, 5, 7), random_matrix(5, 32, 8)
    for fraction in (0.5, 0.9, 0.99, 1.0):
        assert effective_rank(left @ right, fraction, factors=(left, right)) == effective_rank(left @ right, fraction)
    assert effective_rank(left @ right, 1.0, factors=(left, right)) == 5


@pytest.mark.parametrize("method", ["lora", "qlora"])
def test_adapters_inspect_diagnostics(make_adapter, method):
    from typer.testing import CliRunner

    from adaptlab.cli import app

    adapter = make_adapter(method, seed=2, rank=2, qlora=method == "qlora")
    plain = CliRunner().invoke(app, ["adapters", "inspect", str(adapter), "--json"])
    assert plain.exit_code == 0 and json.loads(plain.stdout)["diagnostics"] is None
    result = CliRunner().invoke(app, ["adapters", "inspect", str(adapter), "--diagnostics", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["diagnostics"]["by_module_type"]
    assert [row["module_type"] for row in rows] == ["q_proj", "v_proj"]
    assert all(row["matrices"] == 2 and 1 <= row["effective_rank_max"] <= 2 and row["relative_update_mean"] > 0 for row in rows)
    table = CliRunner().invoke(app, ["adapters", "inspect", str(adapter), "--diagnostics"])
    assert table.exit_code == 0 and "weight-space diagnostics" in table.stdout and "intruders" in table.stdout
