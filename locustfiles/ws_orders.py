"""Every registered exchange's order-path traders, on their own: the users kept out of the default mix.

    locust -f locustfiles/ws_orders.py --host http://127.0.0.1:PORT/binance -u 3 BinanceWsTrader
    locust -f locustfiles/ws_orders.py --host http://127.0.0.1:PORT/coinbase -u 2 CoinbaseFeedTrader

A venue's locustfile (locustfiles/<venue>.py) gives its `WsOrderUser` traders (orders over a WebSocket API) and
`FeedOrderUser` traders (REST orders followed on an authenticated feed) weight 0, so that the default runs and
their figures stay as they were; Locust drops weight-0 classes before it looks at the class names given on its
command line, so this module offers the same traders with weight 1.
"""

from __future__ import annotations

import importlib

from locust import User

from exchanges import NAMES, locustfile_module
from loadgen.users.feed_orders import FeedOrderUser
from loadgen.users.ws_orders import WsOrderUser

ORDER_PATH_USERS = (WsOrderUser, FeedOrderUser)


def _ws_order_users() -> dict[str, type[User]]:
    """Each venue's order-path traders as weight-1 classes of the same name.
    (A function: a module-level loop variable would be one more user class in Locust's eyes.)"""
    users: dict[str, type[User]] = {}
    for name in NAMES:
        module = importlib.import_module(locustfile_module(name))
        for attribute, value in vars(module).items():
            if (isinstance(value, type) and issubclass(value, ORDER_PATH_USERS) and not value.abstract
                    and value.__module__ == module.__name__):
                users[attribute] = type(attribute, (value,), {"weight": 1, "__module__": __name__,
                                                               "__doc__": value.__doc__})
    return dict(sorted(users.items()))


USER_CLASSES = _ws_order_users()
globals().update(USER_CLASSES)  # Locust runs the User classes it finds in this module's namespace
__all__ = list(USER_CLASSES)
