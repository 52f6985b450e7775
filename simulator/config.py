"""The simulator's configuration: a TOML file read into typed, validated dataclasses.

Every value has a default (each exchange's from its adapter in `exchanges/`); a file only names what it changes.
Each venue's section and its checks live in `simulator/<venue>/config.py`; this module reads the file, converts
tables to those dataclasses generically, and runs every registered venue's checks (`simulator.venues`).
Unknown keys, wrong types and out-of-range values raise `ConfigError` with a one-line message
that names the offending key.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import field, fields, is_dataclass, make_dataclass, replace
from typing import Any

from simulator.common_config import (
    CapacityConfig,
    ConfigError,
    FaultsConfig,
    check_capacity,
    check_faults,
    check_tick,
)
from simulator.venues import VENUES

__all__ = ["CapacityConfig", "ConfigError", "FaultsConfig", "SimulatorConfig", "load_config", "parse_config"]

# One section per registered venue, named after it (`[binance]`, ...), each its venue's config dataclass.
SimulatorConfig = make_dataclass(
    "SimulatorConfig",
    [(venue.name, venue.config, field(default_factory=venue.config)) for venue in VENUES],
    frozen=True,
    slots=True,
)
SimulatorConfig.__module__ = __name__
SimulatorConfig.__doc__ = "The whole configuration: one section per venue in `simulator.venues`."


def load_config(path: str | None) -> SimulatorConfig:
    """Read `path` (None: all defaults). Raises ConfigError with a one-line reason."""
    if path is None:
        return SimulatorConfig()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read the file: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}") from None
    return parse_config(data)


def parse_config(data: Mapping[str, Any]) -> SimulatorConfig:
    config = _merge(SimulatorConfig(), data, "")
    _check(config)
    return config


def _merge(default: Any, table: Any, where: str) -> Any:
    """`default` (a dataclass) with the values of `table` converted to the types of its fields."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    names = {f.name for f in fields(default)}
    changes = {}
    for key, value in table.items():
        path = f"{where}.{key}" if where else key
        if key not in names:
            raise ConfigError(f"unknown key '{path}'")
        changes[key] = _convert(getattr(default, key), value, path)
    return replace(default, **changes)


def _convert(default: Any, value: Any, where: str) -> Any:
    """`value` as the type of `default`; numbers must not be negative."""
    if is_dataclass(default):
        return _merge(default, value, where)
    if isinstance(default, Mapping):
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a table")
        merged = dict(default)
        for key, item in value.items():
            if key not in default:
                raise ConfigError(f"unknown key '{where}.{key}' (known: {', '.join(default)})")
            merged[key] = _convert(default[key], item, f"{where}.{key}")
        return merged
    if isinstance(default, tuple):
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where} must be a non-empty array")
        return tuple(_convert(default[0], item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
    if value < 0:
        raise ConfigError(f"{where} must not be negative, got {value!r}")
    return value


def _check(config: SimulatorConfig) -> None:
    """The rules of what every venue's section has (tick, faults, capacity), then each venue's own: rules that
    span values or go beyond 'not negative'."""
    for venue in VENUES:
        section = getattr(config, venue.name)
        check_tick(venue.name, section.tick_ms)
        check_faults(venue.name, section.faults)
        check_capacity(venue.name, section.capacity)
        venue.check(section)
