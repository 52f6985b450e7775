"""The Locust rows of the WebSocket order users (`loadgen.users.ws_orders`), for whoever reads them without Locust."""

REQUEST_TYPE = "WSAPI"
LOST_ORDER_EVENT = "lost_order_event"
EVENT_ROW = "order→{}"  # with the order's state: "order→NEW", "order→FILLED", ...
