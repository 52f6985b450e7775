"""A bare Locust file for the quit-order regression test (tests/test_locust_quit_order.py).

It fires request events and, at `quit`, writes what Locust's per-request entries and its total hold
then to the file named by QUIT_REPORT. With KEEP_ENTRIES=1 it installs the suite's fix
(`loadgen.ending.final_csv`) first.
"""

import json
import os

from locust import User, constant, events, task


class CountedUser(User):
    wait_time = constant(0.01)

    @task
    def one(self) -> None:
        self.environment.events.request.fire(request_type="T", name="one", response_time=1.0, response_length=0,
                                             exception=None, context={})


@events.init.add_listener
def _on_init(environment, **_):
    if os.environ.get("KEEP_ENTRIES") == "1":
        from loadgen.ending import final_csv

        final_csv.install(environment)

    @environment.events.quit.add_listener
    def _at_quit(**_):
        stats = environment.stats
        report = {"entries": sum(e.num_requests for e in stats.entries.values()), "total": stats.total.num_requests}
        with open(os.environ["QUIT_REPORT"], "w", encoding="utf-8") as f:
            json.dump(report, f)
