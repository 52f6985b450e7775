"""Every venue's locustfile weights its default user kinds by the one default mix (loadgen/users/mix.py)."""

from __future__ import annotations

import importlib

from locust import User

from exchanges import NAMES, locustfile_module
from loadgen.users.burst import BurstUser
from loadgen.users.mix import DEFAULT_MIX
from loadgen.users.rest import ExchangeRestUser
from loadgen.users.stream import StreamUser


def test_each_venues_default_users_follow_the_default_mix() -> None:
    for name in NAMES:
        module = importlib.import_module(locustfile_module(name))
        weights = {}
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, User) and value.__module__ == module.__name__ \
                    and not value.abstract and value.weight:
                kind = ("trader" if issubclass(value, BurstUser) else "subscriber" if issubclass(value, StreamUser)
                        else "poller" if issubclass(value, ExchangeRestUser) else value.__name__)
                weights[kind] = value.weight
        assert weights == {"poller": DEFAULT_MIX.poller, "trader": DEFAULT_MIX.trader,
                           "subscriber": DEFAULT_MIX.subscriber}, name
