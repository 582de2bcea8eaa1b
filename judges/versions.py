"""A verifier's version: its explicit `VERSION` (or a task's `version`), where its author set one, plus a hash
of the code that decides it, so the version changes whenever that code does, even when nobody bumps a number.

The code is the verifier's module and every module of `tasks/` and `judges/` it imports, followed import by
import: a task's `parse` is decided as much by the validators it calls as by its own lines. Any edit in those
files changes the hash (a changed comment too: a false alarm costs a rescore, a missed change a wrong one).
`harness rescore` writes these versions into its shards' provenance and `rescore.json`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import inspect
from typing import Any

PACKAGES = ("tasks", "judges")  # where verdicts are decided; other imports (harness core) are not hashed
HASH_CHARS = 12


def code_version(obj: Any, explicit: str | None = None) -> str:
    """`EXPLICIT+HASH` (`HASH` alone without an explicit version) for a function or class; `explicit` defaults
    to the object's own `VERSION` attribute."""
    module = inspect.getmodule(obj)
    if module is None:
        raise ValueError(f"{obj!r}: no module to hash")
    digest = hashlib.sha256()
    for name in sorted(module_closure(module.__name__)):
        digest.update(f"{name}\0".encode() + module_source(name) + b"\0")
    explicit = explicit if explicit is not None else getattr(obj, "VERSION", None)
    tag = digest.hexdigest()[:HASH_CHARS]
    return f"{explicit}+{tag}" if explicit else tag


@functools.cache
def module_closure(name: str) -> frozenset[str]:
    """`name` and every module of PACKAGES it imports, directly or through another of them."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += [m for m in _imports(current) if m not in seen]
    return frozenset(seen)


def _imports(name: str) -> list[str]:
    tree = ast.parse(module_source(name))
    found: list[str] = []
    for node in ast.walk(tree):  # imports inside functions count too: they decide verdicts as well
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]  # `from judges import verifiers`
    return [m for m in found if m.split(".")[0] in PACKAGES and _exists(m)]


def _exists(name: str) -> bool:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):  # `tasks.base.Task`: a name in a module, not a module
        return False
    return spec is not None and spec.origin is not None and spec.origin.endswith(".py")


@functools.cache
def module_source(name: str) -> bytes:
    """The module's file, as bytes (read once per process)."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, name
    with open(spec.origin, "rb") as f:
        return f.read()
