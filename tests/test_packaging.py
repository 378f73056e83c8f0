"""The built package carries every file the app needs at run time."""

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "webhooks_app"


def test_every_non_python_file_is_declared_as_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["webhooks_app"]
    data_files = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
    ]
    assert data_files, "expected py.typed and templates at least"
    # fnmatch's "*" also matches "/", as setuptools' "**" does here.
    missing = [f for f in data_files if not any(fnmatch(f, p) for p in patterns)]
    assert missing == []


def test_the_package_is_typed():
    assert (PACKAGE / "py.typed").is_file()


def test_the_pypi_description_has_no_repository_relative_links_or_images():
    """PyPI renders the description away from the repository: relative links and images
    break there (README.md has both; README.pypi.md is what PyPI shows)."""
    import re

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    description = (ROOT / config["project"]["readme"]).read_text()
    targets = re.findall(r"\]\(([^)]+)\)", description)
    assert targets, "expected at least the Standard Webhooks link"
    assert [t for t in targets if not t.startswith(("https://", "http://"))] == []
    assert "![" not in description
