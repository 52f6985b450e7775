"""The default user mix: the locustfiles weight their user kinds by it, and the runner sizes side-by-side runs."""

from __future__ import annotations

from loadgen.runner.cli import SIDE_BY_SIDE_USERS_PER_EXCHANGE
from loadgen.users.mix import DEFAULT_MIX, UserMix


def test_the_fewest_users_give_every_kind_one_under_a_proportional_share() -> None:
    assert DEFAULT_MIX.fewest_users() == SIDE_BY_SIDE_USERS_PER_EXCHANGE == 5
    for mix in (DEFAULT_MIX, UserMix(1, 1, 1), UserMix(7, 1, 3)):
        n, weights = mix.fewest_users(), (mix.poller, mix.trader, mix.subscriber)
        assert all(n * w / sum(weights) >= 1 for w in weights)
        assert any((n - 1) * w / sum(weights) < 1 for w in weights)
