"""The Locust rows of the order-path users, for whoever reads them without Locust: the WebSocket order users
(`loadgen.users.ws_orders`) and the users that send orders over REST and follow them on a feed
(`loadgen.users.feed_orders`). All their rows have the type REQUEST_TYPE, the REST orders' too."""

REQUEST_TYPE = "WSAPI"
LOST_ORDER_EVENT = "lost_order_event"
EVENT_ROW = "order→{}"  # with the order's state: "order→NEW", "order→FILLED", ...
