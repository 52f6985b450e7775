"""A Binance poller that leaks on purpose, for the resource-leak test: each user keeps 1 MiB and one open file
per 0.25 s it runs, as a client that never closes what it opens would, bounded to LIMIT_S seconds' worth."""

from __future__ import annotations

import os

import gevent

from locustfiles import binance  # the module, not its classes: Locust would run every User class in sight

LEAK_EVERY_S = 0.25
LIMIT_S = 20  # at most this long a leak per user: 80 MiB and 80 descriptors
KEPT: list[bytes] = []
OPENED: list[int] = []


class LeakyPoller(binance.BinanceRestPoller):
    def on_start(self) -> None:
        super().on_start()
        self._leak = gevent.spawn(self._keep_leaking)

    def on_stop(self) -> None:
        self._leak.kill(block=False)

    def _keep_leaking(self) -> None:
        for _ in range(int(LIMIT_S / LEAK_EVERY_S)):
            KEPT.append(b"x" * (1 << 20))  # written, so resident
            OPENED.append(os.open(os.devnull, os.O_RDONLY))  # never closed
            gevent.sleep(LEAK_EVERY_S)
