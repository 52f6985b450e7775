"""Multi-exchange failover: one user asks every exchange for a price at once and takes the fastest good answer,
skipping exchanges whose circuit breaker is open (see loadgen/users/failover.py).

    locust -f locustfiles/failover.py --host http://127.0.0.1:PORT -u 5 -t 30s   # the simulator's root

The exchanges are those of the registry (exchanges/__init__.py) whose adapter quotes prices
(`exchanges.base.PriceQuotes`). Each is reached at the simulator's root plus its prefix (/binance,
/coinbase, /kraken). The breaker options (--breaker-failures, --breaker-open-s) apply; breakers are
always on here.
"""

from __future__ import annotations

from exchanges import NAMES, get_adapter
from exchanges.base import PriceQuotes
from loadgen import plugin
from loadgen.users.failover import FailoverUser, PriceRequest

ADAPTERS = [adapter for adapter in map(get_adapter, NAMES) if isinstance(adapter, PriceQuotes)]
PRICE_REQUESTS = {
    adapter.name: PriceRequest(adapter.price_endpoint, adapter.price_params, adapter.parse_price)
    for adapter in ADAPTERS
}

for adapter in ADAPTERS:
    plugin.install(adapter)


class MultiExchangePriceUser(FailoverUser):
    """The price of each exchange's first symbol (--symbols) from whichever exchange answers first."""

    adapters = ADAPTERS
    price_requests = PRICE_REQUESTS
