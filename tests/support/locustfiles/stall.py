"""A Binance subscriber with a 2 s no-message watchdog, for the stalled-stream fault test."""

from locustfiles import binance  # the module, not its classes: Locust would run every User class in sight


class QuickWatchdogSubscriber(binance.BinanceWsSubscriber):
    stall_timeout_s = 2.0
