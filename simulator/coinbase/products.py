"""The simulated Coinbase market: one `SymbolSpec` per adapter product, the currencies `/currencies`
lists, and the demo profile's starting balances.

Increments are like those in Coinbase's product list for these pairs (quote_increment, base_increment,
min_market_funds); start prices and level sizes are the simulation's own choices.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchanges.coinbase import PRODUCTS
from simulator.market import SymbolSpec

SIZE_DECIMALS = 8  # sizes are printed with 8 decimals


@dataclass(frozen=True, slots=True)
class ProductParams:
    start_price: float
    quote_increment: float
    base_increment: float
    price_decimals: int  # decimals of quote_increment: how prices are printed
    min_market_funds: str  # minimum order value, in the quote currency
    typical_size: float  # a typical book level, in base units


PRODUCT_PARAMS: dict[str, ProductParams] = {
    "BTC-USD": ProductParams(95_000.0, 0.01, 0.00000001, 2, "1", 0.5),
    "ETH-USD": ProductParams(3_500.0, 0.01, 0.00000001, 2, "1", 5.0),
    "SOL-USD": ProductParams(180.0, 0.01, 0.00000001, 2, "1", 50.0),
    "DOGE-USD": ProductParams(0.2, 0.00001, 0.1, 5, "1", 50_000.0),
    "ETH-BTC": ProductParams(0.037, 0.00001, 0.00000001, 5, "0.00001", 5.0),
}


@dataclass(frozen=True, slots=True)
class CurrencyInfo:
    name: str
    kind: str  # "crypto" or "fiat" (details.type)
    max_precision: str
    network: str  # the default network's id ("" for fiat)
    start_balance: float  # the demo profile's starting balance


CURRENCIES: dict[str, CurrencyInfo] = {
    "USD": CurrencyInfo("United States Dollar", "fiat", "0.01", "", 100_000.0),
    "BTC": CurrencyInfo("Bitcoin", "crypto", "0.00000001", "bitcoin", 1.0),
    "ETH": CurrencyInfo("Ethereum", "crypto", "0.00000001", "ethereum", 10.0),
    "SOL": CurrencyInfo("Solana", "crypto", "0.00000001", "solana", 200.0),
    "DOGE": CurrencyInfo("Dogecoin", "crypto", "0.00000001", "dogecoin", 200_000.0),
}


def product_specs() -> list[SymbolSpec]:
    """A spec for every product the adapter lists."""
    specs = []
    for product_id in PRODUCTS:
        params = PRODUCT_PARAMS[product_id]
        base, quote = product_id.split("-")
        specs.append(
            SymbolSpec(product_id, base, quote, params.start_price, params.quote_increment, params.base_increment,
                       price_decimals=params.price_decimals, qty_decimals=SIZE_DECIMALS,
                       typical_qty=params.typical_size)
        )
    return specs


def default_balances() -> dict[str, float]:
    return {currency: info.start_balance for currency, info in CURRENCIES.items()}
