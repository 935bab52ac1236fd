"""The architecture the package layout promises: lower layers never import higher ones, and outside
`methods/` no code decides how to handle a method by testing its name or artifact kind."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "adaptlab"

# Low → high. A module may import its own layer and the ones below. Every `cli` module (cli.py,
# cli_config.py, <package>/cli.py, __main__.py) is the top layer whatever package it sits in.
LAYERS = (
    ("errors", "atomic", "paths", "stats"),
    ("models", "data", "schemas"),
    ("methods",),
    ("train", "eval", "objectives"),
    ("adapters",),
    ("compare", "registry"),
    ("serve", "console"),
    ("cli", "cli_config", "__main__"),
)
TOP = len(LAYERS) - 1

# Deciding by a method's name or artifact kind, instead of asking the method object (an HTTP request's
# method is another word).
METHOD_BRANCHES = (
    re.compile(r"""(?<!request\.)\bmethod\s*[!=]=\s*["']"""),
    re.compile(r"""\.method\s+(not\s+)?in\s*[(\[{]"""),
    re.compile(r"""\bartifact_kind\s*[!=]="""),
    re.compile(r"""\bquantize_base\b"""),
)
# Allowed, each for its reason: (file relative to the package, text of the line).
ALLOWED_BRANCHES = {
    # full fine-tuning is the reference (= 100) of the relative score by definition, whatever the other methods are
    ("compare/schema.py", 'return next((r for r in results if r.method == "full"), None)'),
    # the one place a stored registry version (a record, not a method object) says what its artifact is
    ("registry/entities.py", 'return self.artifact_kind == "peft_adapter"'),
}


def layer_of(module: tuple[str, ...]) -> int:
    """The layer of `adaptlab.<module...>` (module without the `adaptlab` prefix)."""
    if module[-1] in LAYERS[TOP]:
        return TOP
    return next(index for index, names in enumerate(LAYERS) if module[0] in names)


def module_path(file: Path) -> tuple[str, ...]:
    parts = file.relative_to(PACKAGE).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(tree: ast.AST) -> list[tuple[int, tuple[str, ...]]]:
    """Every adaptlab module imported anywhere in the file (function-level imports too), without the prefix."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "adaptlab":
            names = [f"adaptlab.{alias.name}" for alias in node.names if alias.name != "__version__"]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, tuple(name.split(".")[1:])) for name in names if name.startswith("adaptlab.")]
    return found


SOURCE_FILES = sorted(file for file in PACKAGE.rglob("*.py") if module_path(file))


@pytest.mark.parametrize("file", SOURCE_FILES, ids=lambda file: str(file.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(file):
    mine = layer_of(module_path(file))
    upward = [
        f"line {line}: adaptlab.{'.'.join(module)} ({LAYERS[layer_of(module)][0]} layer)"
        for line, module in imported_modules(ast.parse(file.read_text(encoding="utf-8")))
        if layer_of(module) > mine
    ]
    assert not upward, f"{file.relative_to(PACKAGE)} ({LAYERS[mine][0]} layer) imports higher layers: {upward}"


def test_no_code_outside_methods_branches_on_a_method_name_or_artifact_kind():
    hits = []
    for file in SOURCE_FILES:
        relative = file.relative_to(PACKAGE).as_posix()
        if relative.startswith("methods/"):
            continue
        for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
            if any(pattern.search(line) for pattern in METHOD_BRANCHES) and (relative, line.strip()) not in ALLOWED_BRANCHES:
                hits.append(f"{relative}:{number}: {line.strip()}")
    assert not hits, "ask the method object (adaptlab.methods) instead of testing its name:\n" + "\n".join(hits)


def test_the_checks_see_what_they_forbid():
    """The scanners themselves: an upward import and each kind of name test are found."""
    tree = ast.parse("def f():\n    from adaptlab.serve.app import build\nfrom adaptlab import atomic\n")
    assert sorted(imported_modules(tree)) == [(2, ("serve", "app")), (3, ("atomic",))]
    assert layer_of(("train", "cli")) == TOP and layer_of(("schemas", "run_record")) == 1
    for line in ('if config.method == "full":', "if r.method in ('lora', 'dora'):", 'kind = m.artifact_kind != "hf_model"',
                 'getattr(m, "quantize_base", False)'):
        assert any(pattern.search(line) for pattern in METHOD_BRANCHES), line
    for line in ("if method.quantized_base:", 'if request.method != "POST":'):
        assert not any(pattern.search(line) for pattern in METHOD_BRANCHES), line
