"""Test helper: a simulator app served in a background thread on a free port, with an optional fake clock."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from aiohttp import web

from simulator.app import SIMS, build_app
from simulator.config import SimulatorConfig, parse_config


class FakeClock:
    """A clock the test moves by hand (seconds since the epoch)."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SimServer:
    """`with SimServer({"binance": {...}}) as sim:` serves the simulator at `sim.url` until the block ends."""

    def __init__(self, config: dict[str, Any] | None = None, clock: FakeClock | None = None) -> None:
        self.config: SimulatorConfig = parse_config(config or {})
        self.clock = clock or time.time
        self.url = ""
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self.app: web.Application | None = None

    @property
    def binance(self) -> Any:
        return self.exchange("binance")

    def exchange(self, name: str) -> Any:
        """The simulated exchange called `name` (e.g. to look at its market)."""
        assert self.app is not None
        return next(sim for sim in self.app[SIMS] if sim.name == name)

    @property
    def api(self) -> str:
        return f"{self.url}/binance/api/v3"

    def wait_for_trades(self, timeout_s: float = 5.0) -> None:
        """Wait until every symbol has traded (the market ticks in real time)."""
        deadline = time.monotonic() + timeout_s
        while any(not sym.trades for sym in self.binance.market.symbols.values()):
            if time.monotonic() > deadline:
                raise RuntimeError("the market did not trade")
            time.sleep(0.05)

    def __enter__(self) -> SimServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("simulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.app = build_app(self.config, self.clock)
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()
