"""Argument parsing shared by the management commands."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_since(value: str) -> datetime:
    """``"24h"``, ``"7d"``, ``"30m"``, an ISO date or an ISO datetime."""
    match = _RELATIVE.match(value.strip())
    if match:
        amount, unit = match.groups()
        return timezone.now() - timedelta(**{_UNITS[unit]: float(amount)})
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since must be like 24h, 7d, 30m or an ISO date; got {value!r}")
        moment = datetime(day.year, day.month, day.day)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment
