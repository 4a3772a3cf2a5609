"""The public surface of orlop.protocol: exported names exist, and the package stays sans-IO."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import orlop.protocol
from orlop.protocol import encode, headers, ops, parser

ALLOWED = {"__future__", "orlop", "json", "typing", "collections", "functools"}
FORBIDDEN = {
    "asyncio",
    "socket",
    "threading",
    "selectors",
    "ssl",
    "subprocess",
    "multiprocessing",
    "concurrent",
}


def test_all_names_exist() -> None:
    for module in (orlop.protocol, ops, parser, encode, headers):
        assert module.__all__, module
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_contract_names_are_exported() -> None:
    expected = {"ServerParser", "ClientParser", "ops", "encode", "headers"}
    assert expected <= set(orlop.protocol.__all__)
    assert {"Connect", "Pub", "Sub", "Unsub", "Ping", "Pong", "Info", "Msg", "Ok", "Err"} <= set(ops.__all__)
    assert {"info", "msg", "err", "PING", "PONG", "OK", "connect", "pub", "sub", "unsub"} <= set(
        encode.__all__
    )
    assert {"parse", "build", "get", "append", "remove", "Headers"} <= set(headers.__all__)


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
            roots.add("__import__")
    return roots


def test_no_io_imports_in_any_module() -> None:
    package_dir = Path(orlop.protocol.__file__).parent
    files = sorted(package_dir.glob("*.py"))
    assert {f.name for f in files} >= {"__init__.py", "ops.py", "parser.py", "encode.py", "headers.py"}
    for path in files:
        roots = _imported_roots(path)
        assert not roots & FORBIDDEN, (path.name, roots & FORBIDDEN)
        assert "__import__" not in roots, path.name
        assert roots <= ALLOWED, (path.name, roots - ALLOWED)


def test_every_submodule_imports_cleanly() -> None:
    for info in pkgutil.iter_modules(orlop.protocol.__path__):
        module = importlib.import_module(f"orlop.protocol.{info.name}")
        assert module.__doc__, info.name
