"""`python -m simulator --host 127.0.0.1 --port PORT [--config FILE]`: run the exchange simulator.

Prints one line when ready (`simulator ready on http://HOST:PORT (exchanges: ...)`); stops cleanly
on SIGTERM or SIGINT. A bad command line or configuration is reported in one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import NoReturn

from aiohttp import web

from simulator.app import SIMS, build_app
from simulator.config import ConfigError, SimulatorConfig, load_config


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"simulator: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m simulator", description="Run the embedded exchange simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--config", help="TOML file (see simulator/config.example.toml)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as e:
        print(f"simulator: {args.config}: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except ConfigError as e:  # a setting from the environment an exchange cannot use (e.g. SIM_*_API_SECRET)
        print(f"simulator: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"simulator: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


async def _serve(config: SimulatorConfig, host: str, port: int) -> None:
    app = build_app(config)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        names = ", ".join(sim.name for sim in app[SIMS])
        print(f"simulator ready on http://{host}:{bound_port} (exchanges: {names})", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    sys.exit(main())
