"""Not an exchange: the load shape of the runner's shaped scenarios, to load beside an exchange's locustfile.

    locust -f locustfiles/binance.py,locustfiles/scenario_shape.py --scenario medium --headless

`python -m loadgen run --scenario NAME` adds it for every scenario but `default`. See loadgen/pacing/shapes.py
and docs/scenarios.md.
"""

from loadgen.pacing.shapes import ScenarioShape

__all__ = ["ScenarioShape"]
