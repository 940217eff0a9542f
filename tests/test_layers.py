"""The package layout keeps its layers: no import circle, no import up the layer order, nothing
imports the CLI (docs/design.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# folder on disk -> package name once installed
PACKAGES = {"qseq": "qseq", "circuits": "qseq.circuits", "envs": "qseq.envs"}
# lower number = lower layer; a module imports its own layer or lower ones only (docs/design.md)
LAYERS = {
    "qseq._checks": 0,
    "qseq._optional": 0,
    "qseq._io": 0,
    "qseq._threads": 0,
    "qseq._rng": 0,
    "qseq._distributed": 0,
    "qseq._plotting": 0,
    "qseq._native": 0,
    "qseq.circuits": 1,
    "qseq.data": 1,
    "qseq.envs": 1,
    "qseq.backends": 2,
    "qseq.models": 3,
    "qseq.reservoir": 4,
    "qseq.train": 4,
    "qseq.rl": 4,
    "qseq.workflows": 5,
    "qseq.cli": 6,
    "qseq.__main__": 6,
}


def _modules() -> dict[str, Path]:
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _layer(module: str) -> int | None:
    keys = [k for k in LAYERS if module == k or module.startswith(k + ".")]
    return LAYERS[max(keys, key=len)] if keys else None


def _imports(module: str, path: Path) -> set[str]:
    """The qseq modules ``module`` imports, at top level or inside functions."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            prefix = ".".join([*base, node.module] if node.module else base)
            names = [prefix, *(f"{prefix}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # the most specific module file the name reaches
                name = name.rpartition(".")[0]
            if name.startswith("qseq") and name != module:
                out.add(name)
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "qseq" and _layer(m) is None] == []


@pytest.mark.parametrize("module", sorted(m for m, p in MODULES.items() if p.name != "__init__.py"))
def test_imports_run_down_the_layers_only(module):
    # package __init__ files only re-export what their package holds; every other file is checked
    upward = {t: _layer(t) for t in GRAPH[module] if t != "qseq" and _layer(t) > _layer(module)}
    assert upward == {}, f"{module} (layer {_layer(module)}) imports higher layers"


def test_nothing_imports_the_cli():
    assert [m for m, targets in GRAPH.items() if "qseq.cli" in targets and m != "qseq.__main__"] == []


def test_no_import_circle_between_files():
    files = {
        m: {t for t in ts if MODULES[t].name != "__init__.py"}
        for m, ts in GRAPH.items()
        if MODULES[m].name != "__init__.py"
    }
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(m, path):
        state[m] = 1
        for t in files.get(m, ()):
            if state.get(t) == 1:
                pytest.fail("import circle: " + " -> ".join([*path[path.index(t) :], t]))
            if t not in state:
                visit(t, [*path, t])
        state[m] = 2

    for m in files:
        if m not in state:
            visit(m, [m])
