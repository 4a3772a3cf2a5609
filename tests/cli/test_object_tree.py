"""Folder transfers: ``put DIR --recursive`` and ``get --filter GLOB -O DIR``, with ``--skip-same``.

A tree of 200 files in nested folders goes up and comes back byte-identical; a second
``put --skip-same`` moves nothing, a changed file moves alone; names that would escape the
target folder are refused before anything is written.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from clitools import Cli, error_line


def _make_tree(root: Path, files: int) -> dict[str, bytes]:
    rng = random.Random(7)
    made: dict[str, bytes] = {}
    for i in range(files):
        depth = rng.randint(0, 3)
        folder = "/".join(f"d{rng.randint(0, 3)}" for _ in range(depth))
        rel = f"{folder}/f{i}.bin" if folder else f"f{i}.bin"
        data = os.urandom(rng.choice([0, 1, 100, 5_000, 140_000]))
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        made[rel] = data
    return made


def _read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_folder_round_trip_and_skip_same(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    tree = _make_tree(src, 200)
    cli.ok("add", "tree")

    up = json.loads(cli.ok("put", "tree", str(src), "--recursive", "--name", "backup", "--json").stdout)
    assert len(up["transferred"]) == 200 and up["skipped"] == []
    assert up["bytes"] == sum(len(d) for d in tree.values())
    names = cli.ok("ls", "tree", "-n").stdout.decode().split()
    assert sorted(names) == sorted(f"backup/{rel}" for rel in tree)

    down = json.loads(
        cli.ok("get", "tree", "--filter", "backup/*", "-O", str(tmp_path / "back"), "--json").stdout
    )
    assert len(down["transferred"]) == 200
    assert _read_tree(tmp_path / "back" / "backup") == tree

    again = json.loads(
        cli.ok("put", "tree", str(src), "-r", "--name", "backup", "--skip-same", "--json").stdout
    )
    assert (again["transferred"], len(again["skipped"]), again["bytes"]) == ([], 200, 0)
    changed = next(rel for rel, data in tree.items() if len(data) == 5_000)
    (src / changed).write_bytes(b"changed" * 10)
    one = json.loads(
        cli.ok("put", "tree", str(src), "-r", "--name", "backup", "--skip-same", "--json").stdout
    )
    assert [i["name"] for i in one["transferred"]] == [f"backup/{changed}"] and len(one["skipped"]) == 199

    # A local file that differs is not overwritten without -f (local files keep no history).
    kept = cli("get", "tree", "--filter", "backup/*", "-O", str(tmp_path / "back"), "--skip-same")
    assert kept.returncode == 1 and "1 files exist with other contents" in error_line(kept)
    refetch = cli.ok(
        "get", "tree", "--filter", "backup/*", "-O", str(tmp_path / "back"), "--skip-same", "-f", "--json"
    )
    fetched = json.loads(refetch.stdout)
    assert [i["name"] for i in fetched["transferred"]] == [f"backup/{changed}"]
    assert (tmp_path / "back" / "backup" / changed).read_bytes() == b"changed" * 10

    clash = cli("put", "tree", str(src), "-r", "--name", "backup")
    assert clash.returncode == 3 and "use --force or --skip-same" in error_line(clash)
    clash_files = cli("get", "tree", "--filter", "backup/*", "-O", str(tmp_path / "back"))
    assert clash_files.returncode == 1 and "use -f, or --skip-same" in error_line(clash_files)
    not_recursive = cli("put", "tree", str(src))
    assert not_recursive.returncode == 1 and b"--recursive" in not_recursive.stderr


def test_names_that_would_leave_the_folder_are_refused(cli: Cli, tmp_path: Path) -> None:
    cli.ok("add", "hostile")
    cli.ok("put", "hostile", "--name", "ok.txt", stdin=b"fine")
    cli.ok("put", "hostile", "--name", "../escape.txt", stdin=b"bad")
    out = tmp_path / "out"
    refused = cli("get", "hostile", "--filter", "*", "-O", str(out))
    assert refused.returncode == 1 and "would leave the folder" in error_line(refused)
    assert not (tmp_path / "escape.txt").exists() and not out.exists()
