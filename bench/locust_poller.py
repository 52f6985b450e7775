"""The suite's REST user under test: `BinanceRestPoller` with all its accounting on (classification,
used-weight tracking, exchange metrics, Locust stats), sending only its ticker/price task, with no wait."""

from locust import constant

from bench import meter  # noqa: F401  (measures the run when BENCH_METER_FILE is set)
from locustfiles import binance  # the module, not its classes: Locust would run every User class in sight


class TickerPoller(binance.BinanceRestPoller):
    wait_time = constant(0)


# Assigned after the class is built: Locust's metaclass adds the base class's tasks to any declared here.
TickerPoller.tasks = [binance.BinanceRestPoller.ticker_price]
