"""The baseline generator: a bare FastHttpUser doing the same GET, no accounting at all."""

from locust import FastHttpUser, task

from bench import meter  # noqa: F401  (measures the run when BENCH_METER_FILE is set)


class BareTickerUser(FastHttpUser):
    @task
    def ticker(self) -> None:
        self.client.get("/api/v3/ticker/price?symbol=BTCUSDT", name="ticker/price")
