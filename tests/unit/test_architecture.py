"""The house's shape, as docs/DESIGN.md draws it: floors one way, no import cycles, no private names across
modules, no file past 400 lines. Read from the source with `ast` (imports under TYPE_CHECKING aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "tasks", "judges", "trainers", "reports")
CORE = ("harness.engines", "harness.artifacts", "harness.evalsets", "harness.scale", "harness.config")
DOMAIN = ("tasks", "judges", "trainers", "reports")
ENVIRONMENTS = ("harness.environments",)  # `verifiers` environments: a floor over tasks and judges


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            found[name] = path
    return found


MODULES = _modules()


def _type_checking(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for child in node.body for n in ast.walk(child) if hasattr(n, "lineno")}
    return lines


def _imports(name: str) -> list[tuple[str, str | None]]:
    """(module imported, the name taken from it or None) for every product import of module `name`."""
    tree = ast.parse(MODULES[name].read_text())
    skip = _type_checking(tree)
    out = []
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.append((full, None) if full in MODULES else (node.module, alias.name))
    return [(m, n) for m, n in out if m.split(".")[0] in PACKAGES]


GRAPH = {name: _imports(name) for name in MODULES}


def test_no_product_file_is_over_400_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in MODULES.values()}
    assert {path: n for path, n in sizes.items() if n > 400} == {}


def test_no_module_imports_another_module_s_private_name():
    private = [
        f"{name} imports {module}.{taken}"
        for name, imports in GRAPH.items()
        for module, taken in imports
        if taken and taken.startswith("_") and not taken.startswith("__") and module != name
    ]
    assert private == []


def test_floors_go_one_way():
    """Core never imports a task, judge, trainer, report or stage; only the CLI and the pipeline runner import a
    stage, and only the CLI imports the pipeline runner; the environments (harness.environments, over tasks and
    judges) import no stage, pipeline or CLI, and only the CLI may import them."""

    def under(module: str, prefixes: tuple[str, ...]) -> bool:
        return any(module == p or module.startswith(p + ".") for p in prefixes)

    upward = []
    for name, imports in GRAPH.items():
        for module, _ in imports:
            if under(module, ("harness.stages",)) and not under(
                name, ("harness.stages", "harness.cli", "harness.pipeline")
            ):
                upward.append(f"{name} imports {module}")
            if under(module, ("harness.pipeline",)) and not under(name, ("harness.pipeline", "harness.cli")):
                upward.append(f"{name} imports {module}")
            if under(name, CORE) and under(module, DOMAIN):
                upward.append(f"{name} imports {module}")
            if under(module, ENVIRONMENTS) and not under(name, (*ENVIRONMENTS, "harness.cli")):
                upward.append(f"{name} imports {module}")
            if under(name, ENVIRONMENTS) and under(module, ("harness.cli",)):
                upward.append(f"{name} imports {module}")
    assert upward == []


def test_no_import_cycles():
    edges = {name: {m for m, _ in imports if m in MODULES and m != name} for name, imports in GRAPH.items()}
    # a package's __init__ importing its own modules is how packages work, not a cycle between modules
    edges = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in edges.items()}
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    assert cycles == []
