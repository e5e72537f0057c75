"""The project's import graph, lazy imports included, from the source (AST, nothing imported).

Run `python -m tests.unit.architecture.import_graph` from the repository root to list every
import cycle and every import that points up the layers of `streams/`; test_layers.py asserts
there are none. Every `import`/`from ... import` statement counts, wherever it stands (module
level, inside a function, under TYPE_CHECKING), because a lazy import is still a dependency:
it only hides the cycle until the line runs.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("streams", "processors", "registry", "meshstream", "stack", "schemas")

# streams/ from the bottom up: a module may import its own layer and the layers below it only
LAYERS = ("core", "orchestration", "execution", "client", "faust_ext", "worker")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "generated" not in path.parts:
                found[module_name(path)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules `name` imports (`from a import b` counts as a.b when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
            subs: list[str] = []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            bases = [base]
            subs = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in bases + subs:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                targets.add(target)
    return targets


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10_000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "streams" or len(parts) < 2 or parts[1] not in LAYERS:
        return None
    return LAYERS.index(parts[1])


def upward_imports(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(importer, imported) pairs where a streams/ layer imports a layer above it, or a package
    outside streams/ that the runtime builds on (processors, registry) imports streams at all."""
    bad = []
    for source, targets in edges.items():
        for target in targets:
            if source.split(".")[0] in ("processors", "registry", "schemas") and target.split(".")[0] == "streams":
                bad.append((source, target))
                continue
            mine, theirs = layer_of(source), layer_of(target)
            if mine is not None and theirs is not None and theirs > mine:
                bad.append((source, target))
    return sorted(bad)


def main() -> int:
    edges = graph()
    found_cycles = cycles(edges)
    upward = upward_imports(edges)
    for component in found_cycles:
        print("cycle:", " <-> ".join(component))
    for source, target in upward:
        print(f"upward import: {source} -> {target}")
    print(f"modules {len(edges)}, import cycles {len(found_cycles)}, upward imports {len(upward)}")
    return 1 if found_cycles or upward else 0


if __name__ == "__main__":
    raise SystemExit(main())
