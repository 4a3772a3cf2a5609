"""The layers of ARCHITECTURE.md, checked over the source: imports point down, and never in a circle.

Every ``import`` in ``src/orlop`` counts, including those under ``if TYPE_CHECKING:``
and inside functions: a reader meets a type-only back-reference as the same knot.
The rules:

* a module imports only its own layer or the layers below it (``LAYERS``, bottom first;
  modules of one line are siblings and do not import each other);
* ``orlop.objects`` and ``orlop.gateway`` never import ``orlop.server``; ``orlop.protocol``,
  ``orlop.store`` and ``orlop.jsapi`` never import the server either (the layer rule says so);
* no import circle anywhere in ``src/orlop``.

``import_graph`` and ``violations`` are plain functions so that the test of the checker
itself (a deliberately wrong import) runs on a made-up tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"

# Bottom first. A module belongs to the first entry that is its name or a prefix of it.
LAYERS: list[tuple[str, ...]] = [
    (
        "orlop.subjects",
        "orlop.errors",
        "orlop.allocator",
        "orlop.crc",
        "orlop.gojson",
        "orlop.auditlog",
        "orlop.__init__",
    ),
    ("orlop.protocol",),
    ("orlop.jsapi", "orlop.store"),
    ("orlop.server", "orlop.objects"),
    ("orlop.gateway",),
    ("orlop.cli", "orlop.testing"),
    ("orlop.__main__",),
]
NEVER: list[tuple[str, str]] = [
    ("orlop.objects", "orlop.server"),
    ("orlop.gateway", "orlop.server"),
    ("orlop.protocol", "orlop.server"),
    ("orlop.store", "orlop.server"),
    ("orlop.jsapi", "orlop.server"),
    ("orlop.jsapi", "orlop.store"),
    ("orlop.store", "orlop.jsapi"),
]


def _modules(src: Path) -> dict[str, Path]:
    mods = {}
    for path in src.rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _targets(mod: str, path: Path, node: ast.Import | ast.ImportFrom, mods: dict[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        if node.level:
            base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in mods else prefix for a in node.names]
    out = []
    for name in names:
        while name and name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        if name in mods and name != mod:
            out.append(name)
    return out


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Module -> the orlop modules it imports (anywhere in the file)."""
    mods = _modules(src)
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                deps.update(_targets(mod, path, node, mods))
        graph[mod] = deps
    return graph


def _layer(mod: str) -> tuple[int, str]:
    name = "orlop.__init__" if mod == "orlop" else mod
    for i, line in enumerate(LAYERS):
        for part in line:
            if name == part or name.startswith(part + "."):
                return i, part
    raise AssertionError(f"{mod} is in no layer of ARCHITECTURE.md: add it to LAYERS")


def _under(mod: str, pkg: str) -> bool:
    return mod == pkg or mod.startswith(pkg + ".")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every broken rule, as ``importer -> imported: why``."""
    out = []
    for mod, deps in sorted(graph.items()):
        mine, my_part = _layer(mod)
        for dep in sorted(deps):
            theirs, their_part = _layer(dep)
            if theirs > mine:
                out.append(f"{mod} -> {dep}: imports a higher layer")
            elif theirs == mine and my_part != their_part:
                out.append(f"{mod} -> {dep}: siblings do not import each other")
            for low, high in NEVER:
                if _under(mod, low) and _under(dep, high):
                    out.append(f"{mod} -> {dep}: {low} never imports {high}")
    out += [f"import circle: {' -> '.join(c)}" for c in cycles(graph)]
    return out


def test_the_source_keeps_the_layers_and_has_no_import_circle() -> None:
    graph = import_graph()
    assert len(graph) > 50 and "orlop.server.jetstream.stream" in graph
    assert violations(graph) == []


def test_the_checker_catches_a_wrong_import(tmp_path: Path) -> None:
    """A deliberately wrong tree: the store importing the server, and a type-only circle."""
    pkg = tmp_path / "orlop"
    for rel, text in {
        "__init__.py": "",
        "store/__init__.py": "",
        "store/file.py": "from orlop.server.account import Account\n",
        "server/__init__.py": "",
        "server/account.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from orlop.server.conn import Conn\n"
        ),
        "server/conn.py": "from orlop.server.account import Account\n",
    }.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    found = violations(import_graph(tmp_path))
    assert "orlop.store.file -> orlop.server.account: imports a higher layer" in found
    assert "orlop.store.file -> orlop.server.account: orlop.store never imports orlop.server" in found
    assert "import circle: orlop.server.account -> orlop.server.conn" in found
