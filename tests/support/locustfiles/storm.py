"""A Binance subscriber whose reconnect backoff is capped at 50 ms, for the drop-storm test."""

from locustfiles import binance  # the module, not its classes: Locust would run every User class in sight


class StormSubscriber(binance.BinanceWsSubscriber):
    reconnect_base_s = 0.01
    reconnect_cap_s = 0.05
