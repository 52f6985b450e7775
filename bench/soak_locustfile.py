"""The soak's users and shape: 1,000 WebSocket subscribers and 50 REST pollers held for the run, with
one dip to a tenth of them halfway (their sessions, sockets and greenlets must be released)."""

import os

from locust import LoadTestShape

from locustfiles import binance  # the module, not its classes: Locust would run every User class in sight


class SoakSubscriber(binance.BinanceWsSubscriber):
    weight = 20


class SoakPoller(binance.BinanceRestPoller):
    weight = 1


class HoldWithOneDip(LoadTestShape):
    users = 1050
    spawn_rate = 50
    duration_s = int(os.environ.get("SOAK_DURATION_S", "600"))

    def tick(self):
        t = self.get_run_time()
        if t >= self.duration_s:
            return None
        if 0.45 * self.duration_s <= t < 0.55 * self.duration_s:
            return self.users // 10, self.spawn_rate
        return self.users, self.spawn_rate
