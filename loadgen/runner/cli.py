"""`python -m loadgen run|ui`: the simulator (or a named host), Locust, and a results directory.

`make run` and `make ui` call this. Every child process it starts is stopped again, on success,
failure, Ctrl-C and SIGTERM alike (in order, results written: loadgen/runner/stopping.py). Bad input gets
one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from analysis import AnalysisError, analyse_run
from analysis.load import SIMULATOR_HISTORY as HISTORY_FILE
from exchanges import NAMES, get_adapter
from exchanges.base import ExchangeAdapter, TargetKind
from loadgen.gates.reports import failed_checks
from loadgen.gates.thresholds import EXIT_THRESHOLD_FAILED, ThresholdError, gate_settings
from loadgen.pacing.scenarios import SCENARIOS, Scenario, get_scenario, spike_fit_error_in_args
from loadgen.runner.processes import (
    LocustWorkers,
    ProcessError,
    SimulatorProcess,
    child_env,
    run_teed,
)
from loadgen.runner.stopping import STOP, Interrupted
from loadgen.runner.summary import print_summary
from loadgen.users.mix import DEFAULT_MIX

REPO_ROOT = Path(__file__).resolve().parents[2]
SCENARIO_SHAPE = REPO_ROOT / "locustfiles" / "scenario_shape.py"  # the LoadTestShape of shaped scenarios
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


@dataclass(frozen=True, slots=True)
class Target:
    rest_base: str
    ws_base: str
    kind: TargetKind


def parse_duration(text: str) -> int:
    """Seconds from '90', '90s', '2m', '1h' or '1h30m'."""
    match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", text)
    if not text.strip() or not match or not any(match.groups()):
        raise UsageError(f"bad duration {text!r}: use seconds (90), or 90s, 2m, 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise UsageError(f"bad duration {text!r}: must be more than 0 seconds")
    return total


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0")
    return value


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        print(f"error: {message} (see python -m loadgen {self.prog.split()[-1]} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m loadgen", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--exchange", default=NAMES[0],
                       help=f"one of: {', '.join(NAMES)}, or {ALL_EXCHANGES} side by side (default {NAMES[0]})")
        p.add_argument("--sim-config", type=Path, help="simulator TOML config (limits, faults); default built-in")
        p.add_argument("--host", help="REST base URL of an external target instead of the built-in simulator")
        p.add_argument("--ws-host", help="WebSocket base URL (default: the exchange's own for its hosts, "
                       "else the --host with a ws:// scheme)")
        p.add_argument("--allow-production", action="store_true",
                       help="allow a run against an exchange's production host (off: such runs are refused)")
        p.add_argument("--results-dir", type=Path, default=REPO_ROOT / "results", help="where run directories go")

    run = commands.add_parser("run", help="a headless run: simulator + Locust + results/<run-id>/")
    common(run)
    run.add_argument("--scenario", default="default", help=f"one of: {', '.join(SCENARIOS)}")
    run.add_argument("--duration", help="run time: 60, 90s, 2m (default: the scenario's)")
    run.add_argument("--users", type=positive_int, help="number of Locust users (default: the scenario's)")
    run.add_argument("--spawn-rate", type=positive_float, help="users started per second (default: the scenario's)")
    run.add_argument("--workers", type=positive_int,
                     help="run as one Locust master plus this many worker processes on this machine")
    run.add_argument("--expect-workers", type=positive_int,
                     help="run only the master and wait for this many workers started elsewhere "
                     "(other machines, containers): they connect to --master-bind-host:--master-port")
    run.add_argument("--master-bind-host", default="127.0.0.1",
                     help="interface the master listens on for workers (default 127.0.0.1; port 5557 has no "
                     "authentication and hands workers every option: bind it to a private network only)")
    run.add_argument("--master-port", type=positive_int,
                     help="the master's port for workers (default: a free port with --workers, 5557 otherwise)")
    run.add_argument("--threshold", action="append", default=[], metavar="EXPR",
                     help="CI gate checked at the end, e.g. 'p95<300' or 'ws_gaps==0' (repeatable); "
                     "a failed one exits with 3")
    run.add_argument("--thresholds-file", type=Path, metavar="FILE", help="TOML file of thresholds (see docs/ci.md)")
    run.add_argument("--threshold-abort", action="store_true", help="stop the run at the first failed threshold")
    run.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: extra Locust options")

    ui = commands.add_parser("ui", help="the simulator plus Locust's web UI on 127.0.0.1")
    common(ui)
    ui.add_argument("--web-port", type=positive_int, default=8089)
    ui.add_argument("locust_args", nargs=argparse.REMAINDER, help="after --: extra Locust options")
    return parser


ALL_EXCHANGES = "all"
# A side-by-side run's fewest users per exchange by default: enough for every user kind of each locustfile.
SIDE_BY_SIDE_USERS_PER_EXCHANGE = DEFAULT_MIX.fewest_users()


@dataclass(frozen=True, slots=True)
class Selection:
    """What a run drives: one exchange, or every exchange side by side on the simulator."""

    name: str
    adapters: tuple[ExchangeAdapter, ...]
    locustfile: Path

    @property
    def single(self) -> ExchangeAdapter | None:
        return self.adapters[0] if len(self.adapters) == 1 else None


def resolve_exchange(name: str) -> Selection:
    if name.lower() == ALL_EXCHANGES:
        selection = Selection(ALL_EXCHANGES, tuple(get_adapter(n) for n in NAMES), REPO_ROOT / "locustfiles" / "all.py")
    else:
        try:
            adapter = get_adapter(name)
        except ValueError as exc:
            raise UsageError(f"{exc}, or {ALL_EXCHANGES}") from None
        selection = Selection(adapter.name, (adapter,), REPO_ROOT / "locustfiles" / f"{adapter.name}.py")
    if not selection.locustfile.is_file():
        raise UsageError(f"no locustfile for {selection.name}: {selection.locustfile} is missing")
    return selection


def resolve_target(selection: Selection, host: str, ws_host: str | None, allow_production: bool) -> Target:
    adapter = selection.single
    if adapter is None:
        raise UsageError(f"--exchange {selection.name} runs every exchange on the built-in simulator; "
                         "--host names one exchange's host")
    if not re.match(r"^https?://[^/\s]+", host):
        raise UsageError(f"bad --host {host!r}: give a base URL such as https://testnet.binance.vision")
    if ws_host is not None and not re.match(r"^wss?://[^/\s]+", ws_host):
        raise UsageError(f"bad --ws-host {ws_host!r}: give a base URL such as wss://stream.testnet.binance.vision")
    kind = adapter.target_kind(host)
    ws_base = ws_host or adapter.ws_base_for(host)
    production = kind == TargetKind.PRODUCTION or adapter.target_kind(ws_base) == TargetKind.PRODUCTION
    if production and not allow_production:
        raise UsageError(
            f"{host} is {adapter.name}'s production exchange: load there can get your IP banned and your keys "
            "blocked. Use the built-in simulator (omit --host) or the testnet, or pass --allow-production"
        )
    return Target(host.rstrip("/"), ws_base.rstrip("/"), TargetKind.PRODUCTION if production else kind)


def new_run_dir(results_dir: Path, exchange: str, scenario: str) -> Path:
    """A fresh directory per run; an existing one is never reused or overwritten."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{exchange}-{scenario}"
    for attempt in range(1, 1000):
        path = results_dir / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UsageError(f"could not create a new run directory under {results_dir}")


def locust_command(locustfile: Path, target: Target, extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "locust", "-f", str(locustfile),
        "--host", target.rest_base, *(["--ws-host", target.ws_base] if target.ws_base else []),
        *(["--allow-production"] if target.kind == TargetKind.PRODUCTION else []),  # the runner already asked
        *extra,
    ]


def strip_separator(args: list[str]) -> list[str]:
    return args[1:] if args[:1] == ["--"] else args


def command_run(args: argparse.Namespace) -> int:
    selection = resolve_exchange(args.exchange)
    locustfile = selection.locustfile
    scenario = get_scenario_or_usage(args.scenario)
    if scenario.shaped:  # Locust takes comma-separated locustfiles: the exchange's users and the shape
        locustfile = Path(f"{locustfile},{SCENARIO_SHAPE}")
    duration_s = parse_duration(args.duration) if args.duration else scenario.duration_s
    users = args.users or max(scenario.users, SIDE_BY_SIDE_USERS_PER_EXCHANGE * len(selection.adapters))
    spawn_rate = args.spawn_rate or min(scenario.spawn_rate, users)
    if scenario.name == "spike":  # bursts that cannot fit into the run time are refused before anything starts
        error = spike_fit_error_in_args(users, spawn_rate, duration_s, strip_separator(args.locust_args))
        if error:
            raise UsageError(error)
    check_sim_config(args.sim_config, args.host)
    gates = gate_args(args)
    topology = resolve_topology(args)
    if args.host:
        target = resolve_target(selection, args.host, args.ws_host, args.allow_production)
    run_dir = new_run_dir(args.results_dir, selection.name, scenario.name)
    print(f"run {run_dir.name}: {selection.name}, scenario {scenario.name}, {users} users, {duration_s} s"
          + (f", {topology.workers} workers" if topology.distributed else ""))
    manifest = {
        "run_id": run_dir.name, "exchange": selection.name, "exchanges": [a.name for a in selection.adapters],
        "scenario": scenario.name, "users": users,
        "spawn_rate": spawn_rate, "duration_s": duration_s, "workers": topology.workers,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sim_config": str(args.sim_config) if args.sim_config else None,
        "thresholds": [*args.threshold, *([f"file: {args.thresholds_file}"] if args.thresholds_file else [])],
    }
    headless = [
        "--headless", "-u", str(users), "-r", str(spawn_rate), "-t", f"{duration_s}s",
        "--csv", str(run_dir / "locust"), "--csv-full-history",
        "--html", str(run_dir / "report.html"), "--json-file", str(run_dir / "totals"),
        "--exit-code-on-error", "0", "--stop-timeout", "10", "--only-summary", *gates,
        *(["--scenario", scenario.name] if scenario.shaped else []),
        *strip_separator(args.locust_args),
    ]
    if args.host:
        return _run_locust(locustfile, target, headless, run_dir, manifest, None, topology)
    with SimulatorProcess(run_dir / "simulator.log", args.sim_config, history_path=run_dir / HISTORY_FILE) as sim:
        target = simulator_target(selection, sim)
        return _run_locust(locustfile, target, headless, run_dir, manifest, sim, topology)


def gate_args(args: argparse.Namespace) -> list[str]:
    """The thresholds as Locust options, after checking they can be read (exit 2 before anything starts;
    request names are checked by Locust against the run's exchanges, also before any load)."""
    try:
        gate_settings(args.threshold, args.thresholds_file, args.threshold_abort, None)
    except ThresholdError as exc:
        raise UsageError(str(exc)) from None
    return [
        *(f"--threshold={t}" for t in args.threshold),
        *(["--thresholds-file", str(args.thresholds_file.resolve())] if args.thresholds_file else []),
        *(["--threshold-abort"] if args.threshold_abort else []),
    ]


@dataclass(frozen=True, slots=True)
class Topology:
    """One Locust process, or a master with workers (local processes and/or started elsewhere)."""

    local_workers: int = 0
    remote_workers: int = 0
    master_bind_host: str = "127.0.0.1"
    master_port: int = 5557

    @property
    def distributed(self) -> bool:
        return self.local_workers + self.remote_workers > 0

    @property
    def workers(self) -> int:
        return max(1, self.local_workers + self.remote_workers)

    def master_args(self) -> list[str]:
        if not self.distributed:
            return []
        return [
            "--master", "--expect-workers", str(self.workers), "--expect-workers-max-wait", "120",
            "--master-bind-host", self.master_bind_host, "--master-bind-port", str(self.master_port),
            "--enable-rebalancing",  # a lost worker's users move to the others at once
        ]

    def worker_command(self, locustfile: Path) -> list[str]:
        master = "127.0.0.1" if self.master_bind_host in ("0.0.0.0", "*", "") else self.master_bind_host
        return [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker",
                "--master-host", master, "--master-port", str(self.master_port)]


def resolve_topology(args: argparse.Namespace) -> Topology:
    if args.workers and args.expect_workers:
        raise UsageError("use --workers (local worker processes) or --expect-workers (workers elsewhere), not both")
    port = args.master_port or (free_port(args.master_bind_host) if args.workers else 5557)
    return Topology(args.workers or 0, args.expect_workers or 0, args.master_bind_host, port)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        try:
            probe.bind((host, 0))
        except OSError as exc:
            raise UsageError(f"cannot listen on --master-bind-host {host}: {exc.strerror}") from None
        return probe.getsockname()[1]


def _run_locust(
    locustfile: Path,
    target: Target,
    locust_args: list[str],
    run_dir: Path,
    manifest: dict,
    simulator: SimulatorProcess | None,
    topology: Topology = Topology(),
) -> int:
    manifest |= {"target": target.kind.value, "host": target.rest_base, "ws_host": target.ws_base}
    write_json(run_dir / "run.json", manifest)
    cmd = locust_command(locustfile, target, [*topology.master_args(), *locust_args])
    env = child_env()  # on the simulator, the users find it and sign with its demo account themselves
    try:
        with LocustWorkers(topology.worker_command(locustfile), topology.local_workers, run_dir, env, REPO_ROOT):
            if topology.remote_workers:
                print(f"waiting for {topology.remote_workers} workers on {topology.master_bind_host}:"
                      f"{topology.master_port}")
            code = run_teed(cmd, run_dir / "locust.log", env, cwd=REPO_ROOT)
            STOP.defer()  # Locust has ended: a signal from now on must not cut its results short
    except KeyboardInterrupt:
        finish_run(run_dir, manifest, simulator, exit_code=None)
        print(f"interrupted; results so far: {run_dir}", file=sys.stderr)
        raise
    finish_run(run_dir, manifest, simulator, exit_code=code)
    if code == EXIT_THRESHOLD_FAILED:
        failed = failed_checks(run_dir / "locust_junit.xml")
        print(f"\nthresholds failed ({len(failed)}; see {run_dir / 'locust_summary.md'}):", file=sys.stderr)
        for message in failed:
            print(f"  {message}", file=sys.stderr)
        return code
    if code != 0:
        print(f"error: Locust exited with code {code}; see {run_dir / 'locust.log'}", file=sys.stderr)
        return code
    print(f"results: {run_dir}")
    return 0


def finish_run(run_dir: Path, manifest: dict, simulator: SimulatorProcess | None, exit_code: int | None) -> None:
    """Record how the run ended and what the simulator counted, then print the summary."""
    manifest["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    manifest["locust_exit_code"] = exit_code
    manifest["interrupted"] = exit_code is None
    write_json(run_dir / "run.json", manifest)
    if simulator is not None:
        try:
            write_json(run_dir / "simulator_stats.json", simulator.final_stats())
        except OSError as exc:
            print(f"warning: could not read the simulator's stats: {exc}", file=sys.stderr)
    print_summary(run_dir)
    if exit_code is None or (run_dir / "totals.json").is_file():  # Locust refused to start: nothing to analyse
        analyse(run_dir)


def analyse(run_dir: Path) -> None:
    """Findings from the run's files, written to RUN_DIR/analysis/; the summary is printed."""
    try:
        summary = analyse_run(run_dir)
    except AnalysisError as exc:
        print(f"analysis: {exc}", file=sys.stderr)
        return
    print(f"\n{summary.rstrip()}")


def command_ui(args: argparse.Namespace) -> int:
    selection = resolve_exchange(args.exchange)
    # With the scenario shape loaded and Locust's class picker, the start form chooses the users and
    # either Locust's own -u/-r or a shaped scenario (its --scenario and options are form fields too).
    locustfile = Path(f"{selection.locustfile},{SCENARIO_SHAPE}")
    check_sim_config(args.sim_config, args.host)
    run_dir = new_run_dir(args.results_dir, selection.name, "ui")
    ui_args = [
        "--web-host", "127.0.0.1", "--web-port", str(args.web_port), "--class-picker",
        "--csv", str(run_dir / "locust"), "--csv-full-history", "--json-file", str(run_dir / "totals"),
        "--exit-code-on-error", "0", "--stop-timeout", "10", *strip_separator(args.locust_args),
    ]
    manifest = {"run_id": run_dir.name, "exchange": selection.name, "exchanges": [a.name for a in selection.adapters],
                "scenario": "ui", "workers": 1,
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "sim_config": str(args.sim_config) if args.sim_config else None}
    target = resolve_target(selection, args.host, args.ws_host, args.allow_production) if args.host else None
    print(f"Locust web UI: http://127.0.0.1:{args.web_port} (Ctrl-C to stop); results in {run_dir}")
    if target is not None:
        return _run_locust(locustfile, target, ui_args, run_dir, manifest, simulator=None)
    with SimulatorProcess(run_dir / "simulator.log", args.sim_config, history_path=run_dir / HISTORY_FILE) as sim:
        return _run_locust(locustfile, simulator_target(selection, sim), ui_args, run_dir, manifest, sim)


def simulator_target(selection: Selection, sim: SimulatorProcess) -> Target:
    adapter = selection.single
    if adapter is None:  # the simulator's root: each exchange's users find their own mount in it
        return Target(sim.base_url, "", TargetKind.SIMULATOR)
    rest_base = f"{sim.base_url}{adapter.hosts.simulator_prefix}"
    return Target(rest_base, adapter.ws_base_for(rest_base), TargetKind.SIMULATOR)


def get_scenario_or_usage(name: str) -> Scenario:
    try:
        return get_scenario(name)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def check_sim_config(path: Path | None, host: str | None) -> None:
    if path is None:
        return
    if host:
        raise UsageError("--sim-config configures the built-in simulator; it cannot be used with --host")
    if not path.is_file():
        raise UsageError(f"simulator config {path} does not exist")


def load_dotenv_file(path: Path) -> None:
    """Load `.env` into this process's environment (never over variables already set), so that the
    simulator and the users both see the same settings, e.g. SIM_BINANCE_API_KEY."""
    if path.is_file():
        try:
            with path.open(encoding="utf-8") as stream:  # python-dotenv itself only warns and skips bad lines
                bad = next((b.original.line for b in parse_stream(stream) if b.error), None)
            values = dotenv_values(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path}: cannot be read: {type(exc).__name__}") from None
        if bad is not None:  # the line itself is not shown: it may hold a key
            raise UsageError(f"{path}, line {bad}: not a KEY=value line (fix or remove it)")
        for key, value in values.items():
            if value is not None:
                os.environ.setdefault(key, value)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    STOP.install()
    try:
        load_dotenv_file(REPO_ROOT / ".env")
        code = {"run": command_run, "ui": command_ui}[args.command](args)
        return STOP.exit_code or code  # a signal that came while the results were written
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ProcessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Interrupted as exc:
        print(f"interrupted ({exc}): every process this run started has been stopped", file=sys.stderr)
        return exc.exit_code
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
