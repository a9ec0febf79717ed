"""Every file a workspace holds is 0600 and every folder 0700 (issue 16, finding 10).

Before: the metadata database, reports and config were world-readable (0644) and folders 0755.
The walk runs with umask 022 (what a user's shell has), so a file privtune leaves to the umask
is caught.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from privtune.config import load_config
from privtune.fsutil import atomic_write_text
from privtune.pipeline.config import PipelineConfig
from privtune.pipeline.run import run_stages
from privtune.synth import generate_company
from privtune.workspace import Workspace, init_workspace

EMPLOYEES, SEED = 30, 3


@pytest.fixture()
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _loose(root: Path) -> list[str]:
    """Paths under ``root`` (and root) that group or others may read, write or enter."""
    out = []
    for p in [root, *root.rglob("*")]:
        st = p.lstat()
        if stat.S_ISLNK(st.st_mode):
            continue
        if st.st_mode & 0o077:
            out.append(f"{p.relative_to(root)} {oct(st.st_mode & 0o777)}")
        if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o700 != 0o700:
            out.append(f"{p.relative_to(root)} not usable by its owner")
    return out


@pytest.mark.slow  # over a second on 2 idle cores (make test-fast stays near a minute)
def test_a_workspace_after_a_pipeline_is_private(tmp_path: Path, umask_022: None) -> None:
    from tests.conftest import TEST_KDF

    generate_company(EMPLOYEES, SEED, tmp_path / "export", fmt="csv")
    ws = init_workspace(tmp_path / "ws", kdf=TEST_KDF)
    cfg = load_config(PipelineConfig, None, [f"company.employees={EMPLOYEES}",
                                             "dataset.val_fraction=0.5"])
    run_stages(ws, cfg, tmp_path / "export", stop="dataset")  # ingest, scan, deidentify, dataset
    out = tmp_path / "out"
    ws.vault.get_to("employees", out / "sub" / "employees.parquet")
    ws.close()
    root = ws.root
    names = {str(p.relative_to(root)) for p in root.rglob("*")}
    assert {"metadata.db", "privtune.yaml", "reports/pii-scan.html", "reports/deidentify.json",
            "keys"} <= names
    assert _loose(root) == []
    assert _loose(out) == []


def test_opening_an_old_workspace_tightens_it(tmp_path: Path, umask_022: None) -> None:
    from tests.conftest import TEST_KDF

    ws = init_workspace(tmp_path / "ws", kdf=TEST_KDF)
    ws.close()
    root = ws.root
    for p in (root, root / "reports", root / "runs", root / "keys"):
        os.chmod(p, 0o755)
    for p in (root / "metadata.db", root / "privtune.yaml"):
        os.chmod(p, 0o644)
    with Workspace.open(root, api_key=os.environ["PRIVTUNE_API_KEY"]) as again:
        again.vault.put("x", b"data")
    assert _loose(root) == []


def test_atomic_text_files_are_private_by_default(tmp_path: Path, umask_022: None) -> None:
    atomic_write_text(tmp_path / "new" / "dir" / "r.html", "<p>report</p>")
    assert (tmp_path / "new" / "dir" / "r.html").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "dir").stat().st_mode & 0o777 == 0o700


def test_the_cli_runs_with_a_private_umask(tmp_path: Path, umask_022: None) -> None:
    from privtune.cli.main import run

    assert run(["init", str(tmp_path / "w")]) == 0
    assert _loose(tmp_path / "w") == []
    assert os.umask(0o022) == 0o022  # the in-process caller got its umask back
