"""The package's import rules, read from the source (AST), so that they hold from now on.

Layers, from the bottom:  measures  <  experiments, models, data, loop, figures/report  <  runs  <  cli.
Data flows one way: `cli → runs → (loop | models | data | report) → measures`; no import cycles;
imports of klvae modules at the top of the module (the lazy names of `klvae/__init__` excepted);
no private (underscore) names imported from another module; no pyplot, no `matplotlib.use`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "klvae"

EXPERIMENTS = {"fit", "gradients"}
LOOP = {"train", "task", "checkpoint", "hardware", "distributed", "optim", "signals", "progress", "tensorboard"}
FIGURES = {"figures", "charts", "report", "plots"}
DATA = {"data", "datafiles"}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(SRC.rglob("*.py"))}


MODULES = _modules()


def _imports(tree: ast.Module, *, top_only: bool = False):
    """(imported klvae module, names, node, at top level) for each import of a klvae module."""
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("klvae"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                target = sub if sub in MODULES else node.module
                yield target, alias.name, node, id(node) in top
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("klvae"):
                    yield alias.name, None, node, id(node) in top


def _layer(module: str) -> str:
    """The layer of a klvae module: measures, experiments, models, data, loop, figures, runs, cli."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    head = parts[1]
    if head in ("vae", "gan"):
        return "models"
    if head in ("runs", "cli"):
        return head
    for name, group in (("loop", LOOP), ("figures", FIGURES), ("data", DATA), ("experiments", EXPERIMENTS)):
        if head in group:
            return name
    if head == "__main__":
        return "cli"
    return "measures"  # every other top-level module is a measure (info, gaussian, divergences, …)


# what each layer may import, besides itself
ALLOWED = {
    "measures": {"measures"},
    "experiments": {"measures", "experiments"},
    "models": {"measures", "models"},
    "data": {"measures"},
    "loop": {"measures", "loop"},
    "figures": {"measures", "experiments", "figures"},
    "runs": {"measures", "experiments", "models", "data", "loop", "figures", "runs"},
    "cli": {"measures", "experiments", "models", "data", "loop", "figures", "runs", "cli"},
    "package": {"measures"},  # klvae/__init__: the rest only through its lazy names
}


def test_the_layers_are_known():
    assert _layer("klvae.info") == "measures" and _layer("klvae.vae.model") == "models"
    assert _layer("klvae.runs.vae") == "runs" and _layer("klvae.train") == "loop"
    assert _layer("klvae.plots") == "figures" and _layer("klvae.cli.common") == "cli"
    assert {"klvae.runs.folder", "klvae.train", "klvae.figures", "klvae.cli"} <= set(MODULES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module):
    layer = _layer(module)
    for target, _, node, _ in _imports(MODULES[module]):
        if target == "klvae":  # `from klvae import x`: the package itself
            assert layer in ("package",), f"{module}:{node.lineno} imports the package klvae"
            continue
        assert _layer(target) in ALLOWED[layer] | {layer}, (
            f"{module}:{node.lineno} ({layer}) imports {target} ({_layer(target)})"
        )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_klvae_imports_are_at_the_top_and_public(module):
    for target, name, node, top in _imports(MODULES[module]):
        assert top, f"{module}:{node.lineno} imports {target} inside a function: the graph would hide it"
        if name is not None and target != f"{node.module}.{name}":
            assert not name.startswith("_") or name == "__version__", (
                f"{module}:{node.lineno} imports the private name {name} from {target}"
            )


def test_there_are_no_import_cycles():
    graph = {m: {t for t, _, _, _ in _imports(tree) if t in MODULES and t != m} for m, tree in MODULES.items()}
    for m in graph:  # a package's __init__ importing its own submodules is not a cycle
        graph[m] = {t for t in graph[m] if not (t.startswith(m + ".") and m in _packages())}
    seen: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        seen[m] = 1
        for t in sorted(graph[m]):
            if seen.get(t) == 1:
                raise AssertionError("import cycle: " + " → ".join(path[path.index(t) :] + [m, t]))
            if t not in seen:
                visit(t, path + [m])
        seen[m] = 2

    for m in sorted(graph):
        if m not in seen:
            visit(m, [])


def _packages() -> set[str]:
    return {_module_name(p) for p in SRC.rglob("__init__.py")}


def test_nothing_uses_pyplot_or_switches_the_backend():
    for module, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert all(a.name != "matplotlib.pyplot" for a in node.names), f"{module} imports pyplot"
            if isinstance(node, ast.ImportFrom):
                assert node.module != "matplotlib.pyplot" and not (
                    node.module == "matplotlib" and any(a.name == "pyplot" for a in node.names)
                ), f"{module} imports pyplot"
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "use"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "matplotlib"
            ):
                raise AssertionError(f"{module}:{node.lineno} calls matplotlib.use")


def test_no_module_is_longer_than_400_lines():
    long = {p.relative_to(SRC): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long, f"modules over 400 lines: {long}"


def test_the_rules_catch_what_they_should(tmp_path):
    """The checks themselves can fail: a model importing the loop, and a cycle, are caught."""
    bad = ast.parse("from klvae.train import fit\n")
    with pytest.raises(AssertionError, match="imports klvae.train"):
        for target, _, node, _ in _imports(bad):
            assert _layer(target) in ALLOWED["models"], f"x:{node.lineno} imports {target}"
    inner = ast.parse("def f():\n    from klvae.info import entropy\n")
    assert [top for *_, top in _imports(inner)] == [False]
