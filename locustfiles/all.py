"""Binance, Coinbase Exchange and Kraken side by side: every exchange's three user kinds in one run.

    python -m loadgen run --exchange all          # or: make run EXCHANGE=all
    locust -f locustfiles/all.py --host http://127.0.0.1:PORT -u 30   # the simulator's root

With --host at the simulator's root, each exchange's users reach its own mount (/binance, /coinbase,
/kraken), and every row their users report carries the exchange ("coinbase:time", "kraken:connect",
"binance:btcusdt@trade"), so that same-named rows of different exchanges stay apart in Locust's stats.
Options such as --symbols and --streams name one exchange's instruments, so leave them at their
per-exchange defaults here.
"""

from loadgen.gates.evaluation import exchange_prefix
from locustfiles.binance import BinanceBurstTrader, BinanceRestPoller, BinanceWsSubscriber
from locustfiles.coinbase import CoinbaseBurstTrader, CoinbaseRestPoller, CoinbaseWsSubscriber
from locustfiles.kraken import KrakenBurstTrader, KrakenRestPoller, KrakenWsSubscriber

__all__ = [
    "BinanceBurstTrader", "BinanceRestPoller", "BinanceWsSubscriber",
    "CoinbaseBurstTrader", "CoinbaseRestPoller", "CoinbaseWsSubscriber",
    "KrakenBurstTrader", "KrakenRestPoller", "KrakenWsSubscriber",
]

def _name_requests_by_exchange(*user_classes: type) -> None:
    for user_class in user_classes:  # a function: a module-level loop variable would be one more user class
        user_class.stats_prefix = exchange_prefix(user_class.adapter.name)


_name_requests_by_exchange(
    BinanceBurstTrader, BinanceRestPoller, BinanceWsSubscriber, CoinbaseBurstTrader, CoinbaseRestPoller,
    CoinbaseWsSubscriber, KrakenBurstTrader, KrakenRestPoller, KrakenWsSubscriber,
)
