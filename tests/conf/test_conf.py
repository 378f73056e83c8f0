"""The WEBHOOKS settings: defaults, overrides and derived values; event ids."""

from __future__ import annotations

import random
import re
import string
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from django.test import override_settings

from webhooks_app import conf, ids
from webhooks_app.ids import new_event_id
from webhooks_app.sending import attempt

DESIGN_DEFAULTS = {
    "RETRY_SCHEDULE": [5, 300, 1800, 7200, 18000, 36000, 36000],
    "TIMEOUT": (5, 15),
    "ALLOWED_NETWORKS": [],
    "SIGNATURE_TOLERANCE": 300,
    "MAX_INBOUND_BODY": 1_048_576,
    "LEASE_MARGIN": 10,
    "QUEUE": None,
}


# --- conf --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "value"), DESIGN_DEFAULTS.items())
@override_settings(WEBHOOKS={})
def test_design_defaults_when_webhooks_is_empty(key, value):
    assert conf.get(key) == value


@pytest.mark.parametrize(("key", "value"), DESIGN_DEFAULTS.items())
def test_design_defaults_without_a_webhooks_setting(settings, key, value):
    del settings.WEBHOOKS
    assert conf.get(key) == value


@override_settings(WEBHOOKS=None)
def test_webhooks_none_means_defaults():
    assert conf.get("TIMEOUT") == (5, 15)


def test_test_settings_are_read():
    # tests/settings.py sets these.
    assert conf.get("RETRY_SCHEDULE") == [0.2, 0.4]
    assert conf.get("ALLOWED_NETWORKS") == ["127.0.0.0/8", "::1/128"]
    assert conf.get("SIGNATURE_TOLERANCE") == 300  # not set there: the default


def test_override_settings_takes_effect_at_once():
    with override_settings(WEBHOOKS={"RETRY_SCHEDULE": [1, 2, 3], "QUEUE": "hooks"}):
        assert conf.get("RETRY_SCHEDULE") == [1, 2, 3]
        assert conf.get("QUEUE") == "hooks"
        assert conf.get("LEASE_MARGIN") == 10  # keys not given keep their default
        with override_settings(WEBHOOKS={"QUEUE": "other"}):
            assert conf.get("QUEUE") == "other"
            assert conf.get("RETRY_SCHEDULE") == DESIGN_DEFAULTS["RETRY_SCHEDULE"]
        assert conf.get("QUEUE") == "hooks"
    assert conf.get("QUEUE") is None


def test_settings_fixture_changes_take_effect(settings):
    settings.WEBHOOKS = {"SIGNATURE_TOLERANCE": 60}
    assert conf.get("SIGNATURE_TOLERANCE") == 60
    settings.WEBHOOKS = {"SIGNATURE_TOLERANCE": 90}
    assert conf.get("SIGNATURE_TOLERANCE") == 90


def test_a_falsy_override_is_kept():
    with override_settings(WEBHOOKS={"RETRY_SCHEDULE": [], "LEASE_MARGIN": 0, "QUEUE": None}):
        assert conf.get("RETRY_SCHEDULE") == []
        assert conf.get("LEASE_MARGIN") == 0


@override_settings(WEBHOOKS={})
def test_timeouts_default():
    assert conf.timeouts() == (5.0, 15.0)


@pytest.mark.parametrize(
    ("timeout", "expected"), [((2, 3), (2.0, 3.0)), ([1.5, 4], (1.5, 4.0)), (7, (7.0, 7.0))]
)
def test_timeouts_pair_or_single_number(timeout, expected):
    with override_settings(WEBHOOKS={"TIMEOUT": timeout}):
        assert conf.timeouts() == expected


@override_settings(WEBHOOKS={})
def test_lease_seconds_default_is_connect_plus_read_plus_margin():
    assert conf.lease_seconds() == 5 + 15 + 10


@pytest.mark.parametrize(
    ("webhooks", "lease"),
    [
        ({"TIMEOUT": (2, 3), "LEASE_MARGIN": 1}, 6.0),
        ({"TIMEOUT": (1.5, 2.5), "LEASE_MARGIN": 0}, 4.0),
        ({"TIMEOUT": 4}, 18.0),
        ({"LEASE_MARGIN": 30}, 50.0),
    ],
)
def test_lease_seconds_follows_the_settings(webhooks, lease):
    with override_settings(WEBHOOKS=webhooks):
        assert conf.lease_seconds() == lease


def test_lease_seconds_of_the_test_settings():
    assert conf.lease_seconds() == 2 + 3 + 1


@pytest.mark.parametrize("name", ["NOPE", "retry_schedule", ""])
def test_unknown_key_raises_key_error(name):
    with pytest.raises(KeyError):
        conf.get(name)


@override_settings(WEBHOOKS={"NOPE": 1})
def test_unknown_key_raises_even_when_set():
    with pytest.raises(KeyError):
        conf.get("NOPE")


@override_settings(WEBHOOKS={"USER_AGENT": "shop/2"})
def test_user_agent_override():
    assert attempt.user_agent() == "shop/2"


@override_settings(WEBHOOKS={})
def test_user_agent_default_names_the_app_and_version():
    from webhooks_app import __version__

    assert attempt.user_agent() == f"webhooks_app/{__version__}"


# --- event ids ---------------------------------------------------------------------------------

URL_SAFE = set(string.ascii_letters + string.digits + "-_.~")


def test_event_id_has_the_msg_prefix_and_a_fixed_shape():
    event_id = new_event_id()
    assert re.fullmatch(r"msg_[0-9a-z]{26}", event_id)


def test_event_id_is_url_safe():
    for _ in range(1000):
        event_id = new_event_id()
        assert set(event_id) <= URL_SAFE
        assert quote(event_id, safe="") == event_id


def test_event_id_prefix_is_configurable():
    assert new_event_id("evt_").startswith("evt_")
    assert len(new_event_id("evt_")) == len(new_event_id())


def test_event_ids_are_unique():
    event_ids = [new_event_id() for _ in range(10_000)]
    assert len(set(event_ids)) == 10_000


def test_event_ids_in_one_millisecond_are_unique(monkeypatch):
    monkeypatch.setattr(ids, "time", SimpleNamespace(time=lambda: 1_700_000_000.123))
    event_ids = [new_event_id() for _ in range(10_000)]
    assert len(set(event_ids)) == 10_000
    assert len({e[:14] for e in event_ids}) == 1  # the same time part


def test_event_ids_sort_by_creation_time(monkeypatch):
    times = [
        0.0,
        0.001,
        1.0,
        1_614_265_330.0,
        1_614_265_330.001,
        1_700_000_000.5,
        2_000_000_000.0,
        4_102_444_800.0,  # 2100-01-01
    ]
    clock = iter(times)
    monkeypatch.setattr(ids, "time", SimpleNamespace(time=lambda: next(clock)))
    in_order = [new_event_id() for _ in times]
    shuffled = random.Random(5).sample(in_order, len(in_order))
    assert sorted(shuffled) == in_order


def test_event_ids_made_later_sort_later():
    first = new_event_id()
    later = new_event_id()
    while later[:14] == first[:14]:  # until the next millisecond
        later = new_event_id()
    assert first < later
