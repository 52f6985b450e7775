"""The load generator: Locust users for exchange APIs and the runner that drives them.

Subpackages, by concern:
- `users`: what runs under gevent inside Locust for one user: REST and order-burst users, WebSocket stream users,
  the HTTP transport, one WebSocket connection and its frames, local order books, request events.
- `pacing`: how fast load is sent: open-model arrivals, the cluster-wide budget, the weight limiter, backoff, the
  circuit breaker, and the scenario plans (shapes, spike, ramp and capacity searches).
- `gates`: CI gates: threshold expressions, their evaluation on run snapshots, and their reports.
- `web`: the suite's additions to Locust's web UI: safer defaults, the Exchange tab, the exchange choice.
- `runner`: `python -m loadgen`: the command line, child processes, the console summary, and how a run ends
  (stopping, the final CSV files, lost workers).

Top-level modules hold what every part shares: the options (`options`), the per-exchange counters (`metrics`)
and the per-exchange runtime of a process (`runtime`).
"""
