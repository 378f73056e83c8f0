"""The import contracts of pyproject.toml ([tool.importlinter]) hold, and they can fail:
an upward import or a circle, even one inside a function, breaks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(project / "pyproject.toml")],
        cwd=project,
        env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(ROOT / "webhooks_app", tmp_path / "webhooks_app")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def add_function(project: Path, module: str, body: str) -> None:
    path = project / module
    path.write_text(path.read_text() + f"\n\ndef _added():\n    {body}\n")


def test_the_package_keeps_its_contracts():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout


def test_an_upward_import_inside_a_function_breaks_the_layers(project: Path):
    add_function(project, "webhooks_app/signing.py", "from webhooks_app import models  # noqa")
    done = lint_imports(project)
    assert done.returncode != 0
    assert "webhooks_app.signing is not allowed to import webhooks_app.models" in done.stdout


def test_a_circle_inside_a_package_breaks_the_acyclic_contract(project: Path):
    # engine imports due; due importing engine back, even lazily, closes a circle.
    add_function(
        project, "webhooks_app/sending/due.py", "from webhooks_app.sending import engine  # noqa"
    )
    done = lint_imports(project)
    assert done.returncode != 0
    assert "No import circles" in done.stdout and "BROKEN" in done.stdout


def test_importing_the_task_layer_breaks_its_contract(project: Path):
    add_function(project, "webhooks_app/operations.py", "from webhooks_app import tasks  # noqa")
    done = lint_imports(project)
    assert done.returncode != 0
    assert "webhooks_app.operations is not allowed to import webhooks_app.tasks" in done.stdout
