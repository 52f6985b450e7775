"""Multi-exchange failover: one user asks every exchange for a price at once and takes the fastest good answer,
skipping exchanges whose circuit breaker is open (see loadgen/users/failover.py).

    locust -f locustfiles/failover.py --host http://127.0.0.1:PORT -u 5 -t 30s   # the simulator's root

Each exchange is reached at the simulator's root plus its prefix (/binance, /coinbase, /kraken). The
breaker options (--breaker-failures, --breaker-open-s) apply; breakers are always on here.
"""

from __future__ import annotations

from exchanges import binance, coinbase, kraken
from loadgen import plugin
from loadgen.users.failover import FailoverUser, PriceRequest

PRICE_REQUESTS = {
    "binance": PriceRequest("ticker/price", lambda symbol: {"symbol": symbol}, binance.parse_ticker_price),
    "coinbase": PriceRequest("ticker", lambda symbol: {"product_id": symbol}, coinbase.parse_ticker_price),
    "kraken": PriceRequest("Ticker", lambda symbol: {"pair": kraken.rest_pair(symbol)}, kraken.parse_last_price),
}
ADAPTERS = [binance.ADAPTER, coinbase.ADAPTER, kraken.ADAPTER]

for adapter in ADAPTERS:
    plugin.install(adapter)


class MultiExchangePriceUser(FailoverUser):
    """The price of each exchange's first symbol (--symbols) from whichever exchange answers first."""

    adapters = ADAPTERS
    price_requests = PRICE_REQUESTS
