"""The WEBHOOKS keys' declarations (webhooks_app.conf.registry): each one whole, each once."""

from __future__ import annotations

import pytest

from webhooks_app import conf
from webhooks_app.conf.rules import BOOLEAN, POSITIVE_WHOLE, Rule, optional
from webhooks_app.conf.setting import Setting


def test_defaults_derive_from_the_declarations():
    assert conf.DEFAULTS == {setting.name: setting.default for setting in conf.SETTINGS}
    assert list(conf.DEFAULTS) == [setting.name for setting in conf.SETTINGS]


def test_each_key_is_declared_once():
    names = [setting.name for setting in conf.SETTINGS]
    assert sorted({name for name in names if names.count(name) > 1}) == []
    assert conf.BY_NAME == {setting.name: setting for setting in conf.SETTINGS}


@pytest.mark.parametrize("setting", conf.SETTINGS, ids=lambda setting: setting.name)
def test_every_declaration_is_whole(setting):
    assert callable(setting.validate)
    assert setting.description.strip()
    assert "\n" not in setting.description, "one paragraph, on one line in the table"
    assert "|" not in setting.description, "a table cell cannot hold a bare |"
    assert setting.validate(setting.default) is None


@pytest.mark.parametrize("setting", conf.SETTINGS, ids=lambda setting: setting.name)
def test_every_validator_refuses_a_value_of_the_wrong_type(setting):
    # object() is no number, string, list, dict or None: every key refuses it, and says
    # what it expects in words the check's message can use.
    problem = setting.validate(object())
    assert problem is not None
    assert problem.startswith("must be ")


def test_a_declaration_without_a_validator_fails():
    with pytest.raises(TypeError):
        Setting("SOME_KEY", 1, description="Something.", group="sending")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="validate must be a function"):
        Setting("SOME_KEY", 1, None, "Something.", "sending")  # type: ignore[arg-type]


@pytest.mark.parametrize("description", ["", "   ", "One paragraph.\n\nAnd another."])
def test_a_declaration_without_a_one_paragraph_description_fails(description):
    with pytest.raises(ValueError, match="one paragraph"):
        Setting("SOME_KEY", 1, POSITIVE_WHOLE, description, "sending")


def test_a_declaration_whose_default_its_validator_refuses_fails():
    with pytest.raises(ValueError, match="must be a positive whole number"):
        Setting("SOME_KEY", 0, POSITIVE_WHOLE, "Something.", "sending")


@pytest.mark.parametrize(("name", "group"), [("some_key", "sending"), ("SOME_KEY", "Sending")])
def test_a_declaration_names_its_key_and_group_as_the_reference_does(name, group):
    with pytest.raises(ValueError):
        Setting(name, True, BOOLEAN, "Something.", group)


def test_a_rule_says_what_it_expects():
    rule = Rule(lambda value: value == 1, "one")
    assert rule(1) is None
    assert rule(2) == "must be one"
    assert optional(rule)(None) is None
    assert optional(rule)(2) == "must be None or one"
