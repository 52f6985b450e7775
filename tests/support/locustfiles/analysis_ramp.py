"""Locustfile fragment for the analysis correctness test: a linear user ramp across a known limit.

    locust -f locustfiles/binance.py,tests/support/locustfiles/analysis_ramp.py BinanceBurstTrader ...

Users go from RAMP_FROM to RAMP_TO over RAMP_S seconds, then the test stops. The first users arrive at
SPAWN_RATE per second, so that their start-up requests (clock sync, symbol rules) do not come as one
burst that would hit the limit before the ramp does. Settings come from the environment so the test can
size the ramp around its configured limit.
"""

from __future__ import annotations

import os

from locust import LoadTestShape

RAMP_FROM = int(os.environ.get("RAMP_FROM_USERS", "10"))
RAMP_TO = int(os.environ.get("RAMP_TO_USERS", "24"))
RAMP_S = float(os.environ.get("RAMP_S", "28"))
SPAWN_RATE = 5.0


class LinearUserRamp(LoadTestShape):
    def tick(self) -> tuple[int, float] | None:
        run_time = self.get_run_time()
        if run_time >= RAMP_S:
            return None
        users = RAMP_FROM + int((RAMP_TO - RAMP_FROM) * run_time / RAMP_S)
        return users, SPAWN_RATE
