"""The documentation agrees with the code: the settings reference and the site's navigation.

The settings reference's tables (docs/settings.md) are written from the declarations in
``webhooks_app.conf.registry`` (``python -m webhooks_app.conf.reference docs/settings.md``);
these tests fail while the committed page lags behind them. The README's settings table is
written by hand and held to ``webhooks_app.conf.DEFAULTS``: every key, no other, and the
documented defaults equal to the real ones. The site itself is built with
``mkdocs build --strict`` (the ``docs`` extra), which checks links and anchors.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from webhooks_app.conf import DEFAULTS, SETTINGS, reference
from webhooks_app.conf.setting import Setting

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SETTINGS_PAGE = DOCS / "settings.md"

# A table row about a setting: "| `KEY` | default | meaning |".
ROW = re.compile(r"^\|\s*`(?P<key>[A-Z][A-Z0-9_]*)`\s*\|(?P<default>[^|]*)\|", re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`]+)`")

# Defaults too long for a table cell; the reference lists them in a section of their own.
LISTED_BELOW = reference.LISTED_BELOW


def rows(text: str) -> list[tuple[str, str]]:
    return [(m["key"], m["default"].strip()) for m in ROW.finditer(text)]


def readme_settings_section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Settings\n", 1)[1]
    return section.split("\n## ", 1)[0]


def section(text: str, heading: str) -> str:
    return text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]


@pytest.mark.parametrize(
    "name, text",
    [
        ("docs/settings.md", SETTINGS_PAGE.read_text(encoding="utf-8")),
        ("README.md's settings table", readme_settings_section()),
    ],
)
def test_every_setting_is_documented_once_and_no_other(name, text):
    keys = [key for key, _ in rows(text)]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    assert duplicates == [], f"{name} lists these more than once"
    assert sorted(set(DEFAULTS) - set(keys)) == [], f"{name} leaves these out"
    assert sorted(set(keys) - set(DEFAULTS)) == [], f"{name} names these, which are no settings"


def documented_default(cell: str) -> object:
    """The first code span of a default cell, read as a Python literal."""
    span = CODE_SPAN.search(cell)
    assert span, f"no default in {cell!r}"
    return ast.literal_eval(span.group(1))


def test_the_reference_gives_each_default_as_it_is():
    for key, cell in rows(SETTINGS_PAGE.read_text(encoding="utf-8")):
        if key in LISTED_BELOW:
            continue
        assert CODE_SPAN.fullmatch(cell), f"{key}: the default cell is one literal: {cell!r}"
        assert documented_default(cell) == DEFAULTS[key], key


def test_the_readme_gives_each_default_as_it_is():
    for key, cell in rows(readme_settings_section()):
        if key not in LISTED_BELOW:
            assert documented_default(cell) == DEFAULTS[key], key


def test_the_reference_lists_the_default_inbound_headers():
    listed = section(SETTINGS_PAGE.read_text(encoding="utf-8"), "### `INBOUND_HEADERS`")
    bullets = "\n".join(line for line in listed.splitlines() if line.startswith(("- ", "  ")))
    names = CODE_SPAN.findall(bullets)
    assert sorted(names) == sorted(DEFAULTS["INBOUND_HEADERS"])


def test_the_reference_is_written_from_the_declarations():
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    assert reference.render(page) == page, (
        "docs/settings.md lags behind webhooks_app/conf/registry.py: run "
        "python -m webhooks_app.conf.reference docs/settings.md"
    )


def test_the_reference_shows_each_declaration_in_its_group():
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    for setting in SETTINGS:
        block = page.split(f"<!-- settings:{setting.group}:start -->", 1)[1]
        block = block.split(f"<!-- settings:{setting.group}:end -->", 1)[0]
        row = f"| `{setting.name}` | {reference.default_cell(setting)} | {setting.description} |"
        assert row in block.splitlines(), setting.name


def test_a_changed_declaration_makes_the_page_lag_behind():
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    (first, *others) = SETTINGS
    changed = Setting(first.name, first.default, first.validate, "Something new.", first.group)
    assert reference.render(page, [changed, *others]) != page
    added = Setting("SOME_NEW_KEY", [1, 2], first.validate, "Something new.", first.group)
    rendered = reference.render(page, [*SETTINGS, added])
    assert "| `SOME_NEW_KEY` | `[1, 2]` | Something new. |" in rendered.splitlines()


def test_a_group_without_its_table_on_the_page_is_an_error():
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    first = SETTINGS[0]
    stray = Setting("SOME_NEW_KEY", first.default, first.validate, "New.", "no_such_group")
    with pytest.raises(ValueError, match="no_such_group"):
        reference.render(page, [*SETTINGS, stray])
    without = page.replace(f"<!-- settings:{first.group}:start -->", "")
    with pytest.raises(ValueError, match=first.group):
        reference.render(without)


def test_the_script_rewrites_a_page_that_lags_behind(tmp_path):
    page = tmp_path / "settings.md"
    current = SETTINGS_PAGE.read_text(encoding="utf-8")
    page.write_text(current.replace("| `TIMEOUT` |", "| `TIMEOUTS` |"), encoding="utf-8")
    assert reference.main([str(page)]) == 1
    assert page.read_text(encoding="utf-8") == current
    assert reference.main([str(page)]) == 0


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda setting: setting.name)
def test_each_default_is_shown_as_a_literal_of_itself(setting):
    assert ast.literal_eval(reference.literal(setting.default)) == setting.default


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (86_400, "86_400"),
        (3600, "3600"),
        ([5, 36000], "[5, 36000]"),
        ((5, 15), "(5, 15)"),
        ((5,), "(5,)"),
        (0.5, "0.5"),
        ({"title": "Webhooks"}, '{"title": "Webhooks"}'),
        (None, "None"),
        (True, "True"),
    ],
)
def test_literals_read_as_in_settings_files(value, shown):
    assert reference.literal(value) == shown


def nav_pages(entries) -> list[str]:
    pages = []
    for entry in entries:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        pages += nav_pages(value) if isinstance(value, list) else [value]
    return pages


def test_every_page_is_in_the_navigation_once():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = nav_pages(config["nav"])
    files = sorted(path.relative_to(DOCS).as_posix() for path in DOCS.glob("*.md"))
    assert sorted(pages) == files
    assert len(pages) == len(set(pages))
