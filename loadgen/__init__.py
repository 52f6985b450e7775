"""The load generator: Locust users for exchange APIs and the runner that drives them.

Subpackages, by concern:
- `users`: what runs under gevent inside Locust for one user: REST and order-burst users, WebSocket stream users,
  the HTTP transport, one WebSocket connection and its frames, local order books, request events.
- `pacing`: how fast load is sent: open-model arrivals, the cluster-wide budget, the weight limiter, backoff, the
  circuit breaker, and the scenario plans (shapes, spike, ramp and capacity searches).
- `gates`: CI gates: threshold expressions, their evaluation on run snapshots, and their reports.
- `web`: the suite's additions to Locust's web UI: safer defaults, the Exchange tab, the exchange choice.
- `ending`: how a run ends inside Locust: every worker's final report merged before any file is written, the final
  CSV files, lost workers.
- `runner`: `python -m loadgen`: the command line, child processes, stopping them in order, the console summary.
  A plain process: it never imports Locust (tests/test_layers.py).

Top-level modules hold what every part shares: the options (`options`), the per-exchange counters (`metrics`),
each process's memory and open files (`process_history`), the per-exchange runtime of a process (`runtime`), the
suite's state on each Locust `Environment` (`state`), every worker<->master message (`messages`), and `plugin`,
which wires them into Locust for a locustfile.
"""
