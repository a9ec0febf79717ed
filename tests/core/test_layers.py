"""The import layers stay true: the import-linter contracts of pyproject.toml are kept, and no
library package below pipeline/ takes or imports the Workspace (docs/architecture.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import privtune

SRC = Path(privtune.__file__).resolve().parent
PYPROJECT = SRC.parents[1] / "pyproject.toml"
LIBRARY = ["gate", "attacks", "dp", "anonymity", "dpsynth", "train", "deid", "datasets", "synth", "lineage", "access", "audit", "vault", "pii", "models", "ingest", "reports", "store"]


def test_import_contracts_are_kept() -> None:
    # In a subprocess: import-linter's console keeps the stream it first wrote to, which pytest's
    # capture closes after this test (a later test's output then crashes the interpreter).
    exe = Path(sys.executable).with_name("lint-imports")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c",
                                           "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]
    out = subprocess.run([*cmd, "--config", str(PYPROJECT), "--no-cache"], cwd=PYPROJECT.parent,
                         capture_output=True, text=True, timeout=300, check=False)
    report = out.stdout + out.stderr
    assert "Contracts:" in report and "0 broken" in report, report
    assert out.returncode == 0, report


def _workspace_uses(path: Path, package: str) -> list[str]:
    """``ws: Any`` (or unannotated ``ws``) parameters and imports of privtune.workspace in one source file of ``package``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                # an unannotated ``ws`` is an ``Any`` too
                if arg is not None and arg.arg == "ws" and (arg.annotation is None or ast.unparse(
                        arg.annotation) in ("Any", "typing.Any", "'Any'")):
                    found.append(f"{path.name}:{node.lineno} parameter ws: Any")
        elif isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno} import {n.name}" for n in node.names
                      if n.name == "privtune.workspace" or n.name.startswith("privtune.workspace.")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this file's package
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([node.module] if node.module else []))
            if base == "privtune.workspace" or (base == "privtune" and any(n.name == "workspace" for n in node.names)):
                found.append(f"{path.name}:{node.lineno} from {base} import ...")
    return found


@pytest.mark.parametrize("package", LIBRARY)
def test_library_packages_never_take_the_workspace(package: str) -> None:
    root = SRC / package
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root.with_suffix(".py")]
    uses = [u for f in files
            for u in _workspace_uses(f, ".".join(f.relative_to(SRC.parent).with_suffix("").parts[:-1]))]
    assert uses == [], f"privtune.{package} takes or imports the Workspace: {uses}"


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from typing import Any\nimport privtune.workspace\nfrom privtune import workspace\n"
                     "from ..workspace import Workspace\nfrom .workspace import x\n\n"
                     "def f(ws: Any, n: int) -> None: ...\ndef g(ws: Vault) -> None: ...\ndef h(ws): ...\n")
    found = sorted(_workspace_uses(probe, "privtune.gate"))
    assert [f.split(" ", 1)[0] for f in found] == \
        ["probe.py:2", "probe.py:3", "probe.py:4", "probe.py:7", "probe.py:9"], found
