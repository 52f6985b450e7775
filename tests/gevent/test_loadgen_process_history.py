"""Each Locust process's memory and open files per second: sampled, reported by workers, merged and written by
the master, shown in the Exchange tab."""

import csv
import json
import sys
from argparse import Namespace
from pathlib import Path

import pytest
from locust import argument_parser
from locust.env import Environment
from locust.event import Events

from exchanges.binance import ADAPTER
from loadgen import messages
from loadgen.metrics import metrics_hub
from loadgen.plugin import install
from loadgen.process_history import MAX_PENDING, ProcessHistory, process_history
from loadgen.web.exchange_view import exchange_view
from loadgen.web.ui import processes_cell, table_rows
from locustfiles.binance import BinanceRestPoller
from simulator.process_usage import PROCESS_HISTORY_COLUMNS


@pytest.fixture(autouse=True)
def locust_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust"])


def test_a_master_writes_its_own_and_its_workers_samples_and_their_totals(tmp_path: Path) -> None:
    env = Environment(events=Events(), parsed_options=Namespace(csv_prefix=str(tmp_path / "locust")))
    history = ProcessHistory(env)
    history.role = "master"
    history.add("master", "master", 10, [(100.0, 80.0, 12), (101.0, 81.0, 12)])
    worker = ProcessHistory(Environment(events=Events()))
    worker.role = "worker"
    worker.pending = [(100.2, 90.0, 30), (101.2, None, None), (102.2, 95.5, 33)]  # one sample not measured
    payload = worker.report_payload()
    assert worker.pending == [] and payload["rows"][1] == [101.2, None, None]
    history.on_worker_report("host_abc", {messages.PROCESS_USAGE_KEY: payload})
    history.on_worker_report("host_def", {})  # a report without samples (an older worker): nothing to add
    history.finish()
    history.finish()  # a second quit changes nothing
    with open(tmp_path / "locust_process_history.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert tuple(rows[0]) == PROCESS_HISTORY_COLUMNS
    workers = [r for r in rows[1:] if r[1] == "worker"]
    assert [r[2:] for r in workers] == [["host_abc", str(payload["pid"]), "90.0", "30"],
                                        ["host_abc", str(payload["pid"]), "", ""],
                                        ["host_abc", str(payload["pid"]), "95.5", "33"]]
    assert len([r for r in rows[1:] if r[1] == "master"]) == 3  # two added, one sampled at the end
    totals = {p["process"]: p for p in json.loads((tmp_path / "locust_process.json").read_text())["processes"]}
    assert totals["host_abc"]["rss_mb"] == {"first": 90.0, "last": 95.5, "max": 95.5}
    assert totals["host_abc"]["fds"] == {"first": 30, "last": 33, "max": 33} and totals["host_abc"]["samples"] == 3
    assert totals["master"]["samples"] == 3 and totals["master"]["rss_mb"]["first"] == 80.0


def test_the_exchange_tab_shows_the_latest_memory_and_files() -> None:
    options = argument_parser.get_parser().parse_args(["--host", "http://127.0.0.1:8123/binance"])
    env = Environment(events=Events(), host=options.host, parsed_options=options, user_classes=[BinanceRestPoller])
    install(ADAPTER, env.events)
    env.create_local_runner()
    web_ui = env.create_web_ui(options.web_host, 0, delayed_start=True)
    env.events.init.fire(environment=env, runner=env.runner, web_ui=web_ui)
    process_history(env).sample()
    metrics_hub(env).collector("binance").request(1)  # the tab has a row once an exchange counted something
    view = exchange_view(env)
    view.sample()
    (local,) = view.view()["processes"]
    assert local["role"] == "local" and local["rss_mb"] > 20 and local["fds"] >= 3
    (row,) = table_rows(view.view())
    assert row["processes"] == f"local {local['rss_mb']:.0f} MB, {local['fds']} fds"
    # on a master, a lost worker's last figures are no longer shown
    process_history(env).add("worker", "w1", 1, [(1.0, 90.0, 30)])
    process_history(env).add("worker", "w2", 2, [(1.0, 99.0, 40)])
    view.live_workers = lambda: {"w1"}  # type: ignore[method-assign]
    assert [p["process"] for p in view.view()["processes"]] == ["local", "w1"]


def test_a_worker_keeps_a_bounded_backlog() -> None:
    worker = ProcessHistory(Environment(events=Events()))
    worker.role = "worker"
    for _ in range(MAX_PENDING + 5):
        worker.sample()
    assert len(worker.pending) == MAX_PENDING


def test_the_cell_is_compact_with_many_workers() -> None:
    workers = [{"role": "worker", "rss_mb": 90.0 + i, "fds": 30 - i} for i in range(4)]
    master = {"role": "master", "rss_mb": 80.4, "fds": 14}
    assert processes_cell([master, *workers]) == "master 80 MB, 14 fds; 4 workers up to 93 MB, 30 fds"
    assert processes_cell([{"role": "local", "rss_mb": None, "fds": None}]) == "local not measured"
    assert processes_cell([]) == "-"
