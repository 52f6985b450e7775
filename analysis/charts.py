"""The report's charts (matplotlib, no display needed): a PNG for report.md and an SVG for report.html whose points
carry their values (hover) and that report.html's few lines of script zoom.

Long runs are drawn in buckets of several seconds so that a chart never has more than MAX_POINTS
points per line: rates are bucket means, latency percentiles the bucket's highest windowed value
(said on the chart), so a spike is never averaged away.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from analysis.pipeline import Analysis
from analysis.timeline import base_names, is_ws, run_exchanges
from analysis.websocket import NON_STREAM_NAMES

MAX_POINTS = 1000
EMPTY = pd.DataFrame({"d_requests": [], "p50": [], "p95": [], "p99": []}, dtype=float)
TOP_ENDPOINTS = 5  # REST endpoints drawn per chart (the busiest)
TOP_STREAMS = 10  # WebSocket streams drawn (the busiest); the chart's legend says when there were more
DOMINANT_LEVEL_SHARE = 0.8  # users vs throughput is left out when one user count held this share of the run
DPI = 100
SVG_DPI = 72  # matplotlib's SVG unit: the point
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


@dataclass(frozen=True, slots=True)
class Chart:
    file: str
    title: str
    png: bytes
    svg: str  # inline SVG (no XML prolog), every drawn point with a <title> of its values


def draw_all(analysis: Analysis) -> list[Chart]:
    """Every chart the run has data for, in the report's order."""
    makers: list[tuple[str, str, Callable[[Analysis], Figure | None]]] = [
        ("requests.png", "Requests/s and failures/s, rate-limit answers marked", requests_chart),
        ("latency.png", "REST latency percentiles over time (10 s windows)", latency_chart),
        ("users_throughput.png", "Users vs throughput", users_chart),
        ("latency_throughput.png", "Latency vs throughput", latency_load_chart),
        ("errors.png", "Error breakdown", errors_chart),
        ("weight.png", "Used weight against the limit", weight_chart),
        ("search.png", "Limit search: the plateaus tried, per exchange", search_chart),
        ("capacity.png", "Capacity search: offered vs served per plateau, ceiling marked", capacity_chart),
        ("websocket.png", "WebSocket message rate and event latency", websocket_chart),
    ]
    charts = []
    for file, title, make in makers:
        figure = make(analysis)
        if figure is not None:
            png = _png(figure)
            charts.append(Chart(file, title, png, _svg(figure)))
            plt.close(figure)
    return charts


def _subplots(*grid: int, **options: Any) -> tuple[Figure, Any]:
    return plt.subplots(*grid, layout="constrained", **options)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})  # fast; files ~15% larger
    return buffer.getvalue()


def _svg(figure: Figure) -> str:
    """The figure as inline SVG, with an invisible circle titled with its values on every point of every labelled
    series (a browser shows the title on hover)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", dpi=SVG_DPI,  # no metadata: no date (files comparable), no URLs
                   metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    height = figure.get_figheight() * SVG_DPI
    scale = SVG_DPI / figure.dpi  # display pixels (at figure.dpi) to SVG points
    x_label = next((a.get_xlabel() for a in figure.axes if a.get_xlabel()), "x")
    marks = []
    for axis in figure.axes:
        for label, x, y, value in _hover_points(axis, x_label):
            marks.append(f'<circle cx="{x * scale:.1f}" cy="{height - y * scale:.1f}" r="4">'
                         f"<title>{escape(label)}: {escape(value)}</title></circle>")
    overlay = f'<g class="points">{"".join(marks)}</g>'
    return text.replace("</svg>", overlay + "</svg>", 1)


def _hover_points(axis: Axes, x_label: str) -> list[tuple[str, float, float, str]]:
    """(series label, display x, display y, values text) for each point of each labelled series of `axis`."""
    points = []
    for line in axis.get_lines():
        label = str(line.get_label())
        if label.startswith("_"):
            continue
        data = line.get_xydata()
        display = line.get_transform().transform(data)
        constant = line.get_transform() != axis.transData  # axhline/axvline: one side in axes coordinates
        for (x, y), (dx, dy) in zip(data, display, strict=True):
            if math.isfinite(dx) and math.isfinite(dy):
                points.append((label, dx, dy, "" if constant else f"{_num(y)} at {x_label} {_num(x)}"))
    for collection in axis.collections:
        label = str(collection.get_label())
        if not isinstance(collection, PathCollection) or label.startswith("_"):
            continue
        offsets = collection.get_offsets()
        for (x, y), (dx, dy) in zip(offsets, axis.transData.transform(offsets), strict=True):
            points.append((label, dx, dy, f"{_num(y)} at {x_label} {_num(x)}"))
    for container in axis.containers:
        if isinstance(container, BarContainer):
            for bar, name in zip(container.patches, [t.get_text() for t in axis.get_yticklabels()], strict=False):
                dx, dy = axis.transData.transform((bar.get_x() + bar.get_width(), bar.get_y() + bar.get_height() / 2))
                points.append((name, dx, dy, _num(bar.get_width())))
    return points


def _num(value: float) -> str:
    return f"{value:,.6g}" if isinstance(value, int | float) and math.isfinite(value) else str(value)


def series_style(index: int, points: int) -> dict[str, Any]:
    """A style per series so that no line hides another: its own colour, dash and marker, and a line thinner than
    the ones drawn before it (a later line on top of an earlier one leaves the earlier one visible around it)."""
    every = max(1, points // 15)
    return {"color": f"C{index % 10}", "linestyle": LINESTYLES[index % len(LINESTYLES)],
            "marker": MARKERS[index % len(MARKERS)], "markersize": 4,
            "markevery": (index % every, every), "linewidth": max(1.0, 3.0 - 0.4 * index), "zorder": 2 + index / 100}


def bucket_size(length: int) -> int:
    return max(1, math.ceil(length / MAX_POINTS))


def bucketed(series: pd.Series, size: int, how: str) -> pd.Series:
    """`series` (indexed by second) in buckets of `size` seconds, aggregated with `how` ("mean", "max")."""
    if size == 1:
        return series
    return series.groupby((series.index // size) * size).agg(how)


def time_scale(analysis: Analysis) -> tuple[int, str]:
    """Seconds per x-axis unit and the axis label: seconds, minutes or hours by the run's length."""
    span = analysis.data.end_s - analysis.data.start_s
    scale, unit = (3600, "h") if span > 4 * 3600 else (60, "min") if span > 600 else (1, "s")
    return scale, f"run time ({unit})"


def run_time(index: pd.Index, analysis: Analysis) -> pd.Index:
    return (index - analysis.data.start_s) / time_scale(analysis)[0]


def _bucket_note(size: int, what: str) -> str:
    return "" if size == 1 else f" ({what} per {size} s)"


def requests_chart(analysis: Analysis) -> Figure | None:
    rest = analysis.rest
    if rest.empty:
        return None
    scale, label = time_scale(analysis)
    size = bucket_size(len(rest))
    figure, axis = _subplots(figsize=(10, 4))
    x = run_time(bucketed(rest["requests"], size, "mean").index, analysis)
    axis.plot(x, bucketed(rest["requests"], size, "mean").to_numpy(), label="REST requests/s",
              **series_style(0, len(x)))
    axis.plot(x, bucketed(rest["failures"], size, "mean").to_numpy(), label="failures/s", **series_style(1, len(x)))
    for exchange, result in analysis.rate_limits.items():
        limited = result.seconds["rate_limited"] + result.seconds["banned"]
        if limited.sum() == 0:
            continue
        series = bucketed(limited, size, "mean")
        hits = series[series > 0]
        axis.scatter(run_time(hits.index, analysis), hits.to_numpy(), color="tab:red", marker="x", s=18,
                     label=f"{exchange} rate-limit answers/s")
        for ban in result.summary["bans"]:
            axis.axvspan(ban["start_s"] / scale, (ban["start_s"] + ban["length_s"]) / scale, color="tab:red",
                         alpha=0.12, label=f"{exchange} ban")
    users = axis.twinx()
    user_counts = bucketed(rest["users"], size, "max")
    users.step(run_time(user_counts.index, analysis), user_counts.to_numpy(), color="grey", alpha=0.5, where="post",
               label="users (right axis)")
    users.set_ylabel("users", color="grey")
    axis.set_xlabel(label)
    axis.set_ylabel("per second" + _bucket_note(size, "mean"))
    _legend(axis, also=users)
    return figure


def latency_chart(analysis: Analysis) -> Figure | None:
    if not analysis.data.full_history:
        return None
    top = _top_entries(analysis, websocket=False)
    if not top:
        return None
    label = time_scale(analysis)[1]
    size = bucket_size(len(analysis.rest))
    figure, axes = _subplots(3, 1, figsize=(10, 8), sharex=True)
    for axis, column in zip(axes, ("p50", "p95", "p99"), strict=True):
        for index, (method, name) in enumerate(top):
            rows = analysis.entry_rows.get((method, name), EMPTY)[column].dropna()
            if rows.empty:
                continue
            series = bucketed(rows, size, "max")
            axis.plot(run_time(series.index, analysis), series.to_numpy(), label=f"{method} {name}",
                      **series_style(index, len(series)))
        axis.set_ylabel(f"{column} ms" + _bucket_note(size, "max"))
        _legend(axis)
    axes[-1].set_xlabel(label)
    return figure


def users_chart(analysis: Analysis) -> Figure | None:
    levels = analysis.capacity.levels
    if len(levels) < 2 or levels["seconds"].max() >= DOMINANT_LEVEL_SHARE * levels["seconds"].sum():
        return None  # one user count (a rate search, a constant load after its ramp-up) has nothing to compare
    figure, axis = _subplots(figsize=(6, 4))
    axis.plot(levels.index, levels["requests_per_s"], label="REST requests/s", **series_style(0, 0))
    axis.plot(levels.index, levels["ok_per_s"], label="successful requests/s", **series_style(1, 0))
    ceiling = analysis.capacity.summary["throughput_ceiling"]
    if ceiling is not None and "users" in ceiling:
        axis.axvline(ceiling["users"], color="tab:red", linestyle="--", label=f"ceiling ({ceiling['users']} users)")
    axis.set_xlabel("users")
    axis.set_ylabel("mean per second at that user count")
    _legend(axis)
    return figure


def latency_load_chart(analysis: Analysis) -> Figure | None:
    points = analysis.capacity.knee_points
    if points.empty:
        return None
    figure, axis = _subplots(figsize=(6, 4))
    for index, (method, name) in enumerate(_top_entries(analysis, websocket=False)):
        rows = points.loc[(points["type"] == method) & (points["name"] == name)]
        if rows["load"].nunique() < 2:
            continue
        bins = pd.qcut(rows["load"], q=min(20, rows["load"].nunique()), duplicates="drop")
        table = rows.groupby(bins, observed=True)[["load", "p95"]].median()
        axis.plot(table["load"], table["p95"], label=f"{method} {name}", **series_style(index, 0))
    knee, ceiling = analysis.capacity.summary["latency_knee"], analysis.capacity.summary["throughput_ceiling"]
    if knee is not None:
        axis.axvline(knee["load_requests_per_s"], color="tab:orange", linestyle="--",
                     label=f"latency knee ({knee['load_requests_per_s']:g}/s)")
    if ceiling is not None and ceiling.get("requests_per_s") is not None:
        axis.axvline(ceiling["requests_per_s"], color="tab:red", linestyle="-",
                     label=f"throughput ceiling ({ceiling['requests_per_s']:g}/s, {ceiling['cause']})")
    axis.set_xlabel("REST requests/s (10 s window)")
    axis.set_ylabel("p95 ms (10 s window, median per load bin)")
    _legend(axis)
    return figure


def errors_chart(analysis: Analysis) -> Figure | None:
    by_kind = analysis.report["errors"]["by_kind"]
    labels, counts = [], []
    for kind, entry in sorted(by_kind.items(), key=lambda item: item[1]["count"]):
        if entry["by_status"] and kind == "server_error":
            for status, count in entry["by_status"].items():
                labels.append(f"{kind} HTTP {status}")
                counts.append(count)
        else:
            labels.append(kind)
            counts.append(entry["count"])
    if not counts:
        return None
    figure, axis = _subplots(figsize=(7, 0.5 * len(labels) + 1.5))
    axis.barh(labels, counts, color="tab:orange")
    axis.set_xlabel("failures")
    return figure


def weight_chart(analysis: Analysis) -> Figure | None:
    drawn = [(ex, r) for ex, r in analysis.rate_limits.items() if r.seconds["used_weight_max"].notna().any()]
    if not drawn:
        return None
    label = time_scale(analysis)[1]
    figure, axis = _subplots(figsize=(10, 4))
    for index, (exchange, result) in enumerate(drawn):
        used = result.seconds["used_weight_max"].dropna()
        size = bucket_size(len(used))
        series = bucketed(used, size, "max")
        axis.plot(run_time(series.index, analysis), series.to_numpy(),
                  label=f"{exchange} used weight" + _bucket_note(size, "max"), **series_style(index, len(series)))
        estimate = result.summary["estimated_limit"]
        if estimate is not None:
            axis.axhline(estimate["value"], color="tab:red", linestyle="--",
                         label=f"{exchange} estimated limit {estimate['value']:g} {estimate['unit']}")
        client = result.summary["client_limit"]
        if client is not None and client["window_s"] == result.window_s:
            axis.axhline(client["value"], color="tab:green", linestyle=":", label=f"{exchange} client limit")
    axis.set_xlabel(label)
    axis.set_ylabel("used weight in the current window")
    _legend(axis)
    return figure


VERDICT_COLORS = {"clean": "tab:green", "rate_limited": "tab:red"}  # any other verdict: grey


def search_chart(analysis: Analysis) -> Figure | None:
    """Each plateau of the ramp's search as a bar at its target rate over its time, coloured by verdict, with the
    exchange's max safe rate; one panel per exchange."""
    ramp = analysis.data.ramp
    if ramp is None or ramp.empty:
        return None
    exchanges = list(dict.fromkeys(ramp["exchange"]))
    scale, label = time_scale(analysis)
    figure, axes = _subplots(len(exchanges), 1, figsize=(10, 3 * len(exchanges)), sharex=True, squeeze=False)
    for axis, exchange in zip(axes[:, 0], exchanges, strict=True):
        rows = ramp.loc[ramp["exchange"] == exchange]
        for row in rows.itertuples():
            start = (row.started_at - analysis.data.start_s) / scale
            end = ((row.ended_at if row.ended_at == row.ended_at else row.started_at) - analysis.data.start_s) / scale
            probe = row.role == "probe"  # probes are long enough to judge a sustained rate: drawn thicker
            axis.hlines(row.target_rps, start, max(end, start), colors=VERDICT_COLORS.get(str(row.verdict), "grey"),
                        linewidth=5 if probe else 2, label=f"{row.role}: {row.verdict}")
        result = analysis.rate_limits.get(exchange)
        safe = result.summary["max_safe_requests_per_s"] if result is not None else None
        if safe is not None:
            axis.axhline(safe, color="tab:green", linestyle=":", label=f"max safe {safe:g} req/s")
        axis.set_yscale("log")
        axis.set_ylabel(f"{exchange} target req/s")
        _legend(axis)
    axes[-1, 0].set_xlabel(label)
    return figure


def capacity_chart(analysis: Analysis) -> Figure | None:
    """Each plateau of the capacity search: the rate offered against the successful answers served per second, on a
    line of perfect service, with the throughput ceiling found; one line per exchange."""
    plateaus = analysis.data.capacity_search
    if plateaus is None or plateaus.empty:
        return None
    judged = plateaus.loc[plateaus["served_rps"].notna()]
    figure, axis = _subplots(figsize=(6, 4))
    top = float(judged["target_rps"].max()) if len(judged) else 1.0
    axis.plot([0, top], [0, top], color="lightgrey", linestyle=":", label="served = offered")
    for index, (exchange, rows) in enumerate(judged.groupby("exchange", sort=False)):
        axis.plot(rows["target_rps"], rows["served_rps"], label=f"{exchange} served", **series_style(index, 0))
        for row in rows.loc[rows["verdict"] != "clean"].itertuples():
            axis.annotate(str(row.verdict), (row.target_rps, row.served_rps), fontsize=7, xytext=(3, -9),
                          textcoords="offset points")
    for ceiling in analysis.capacity.summary["searched"]:
        if ceiling["requests_per_s"] is not None:
            axis.axhline(ceiling["requests_per_s"], color="tab:red", linestyle="--",
                         label=f"{ceiling['exchange']} ceiling {ceiling['requests_per_s']:g}/s ({ceiling['cause']})")
    axis.set_xlabel("offered req/s (plateau target)")
    axis.set_ylabel("successful answers/s")
    _legend(axis)
    return figure


def websocket_chart(analysis: Analysis) -> Figure | None:
    streams = _top_entries(analysis, websocket=True)
    if not streams or not analysis.data.full_history:
        return None
    label = time_scale(analysis)[1]
    size = bucket_size(len(analysis.rest))
    figure, (rate_axis, latency_axis) = _subplots(2, 1, figsize=(10, 7), sharex=True)
    for index, (method, name) in enumerate(streams):  # the same style for a stream in both panels
        rows = analysis.entry_rows.get((method, name), EMPTY)
        rate = bucketed(rows["d_requests"], size, "mean")
        rate_axis.plot(run_time(rate.index, analysis), rate.to_numpy(), label=name, **series_style(index, len(rate)))
        latency = rows["p95"].dropna()
        if not latency.empty:
            series = bucketed(latency, size, "max")
            latency_axis.plot(run_time(series.index, analysis), series.to_numpy(), label=name,
                              **series_style(index, len(series)))
    total = _stream_count(analysis)
    rate_axis.set_ylabel("messages/s" + _bucket_note(size, "mean"))
    latency_axis.set_ylabel("event latency p95 ms" + _bucket_note(size, "max"))
    latency_axis.set_xlabel(label)
    shown = f"the {len(streams)} busiest of {total} streams" if total > len(streams) else None
    _legend(rate_axis, title=shown)
    if latency_axis.get_lines():
        _legend(latency_axis, title="streams with event times")
    else:
        latency_axis.text(0.5, 0.5, "no stream carries event times", ha="center", va="center",
                          transform=latency_axis.transAxes, color="grey")
    return figure


def _entry_rows(analysis: Analysis, websocket: bool) -> pd.DataFrame:
    totals = analysis.data.totals
    rows = totals.loc[is_ws(totals["type"]) == websocket]
    if websocket:
        names = rows["name"].astype(str)
        bases = names.map(base_names(names, run_exchanges(analysis.data)))
        rows = rows.loc[~bases.isin(NON_STREAM_NAMES)]
    return rows


def _stream_count(analysis: Analysis) -> int:
    return len(_entry_rows(analysis, websocket=True))


def _top_entries(analysis: Analysis, websocket: bool) -> list[tuple[str, str]]:
    rows = _entry_rows(analysis, websocket).sort_values("requests", ascending=False)
    rows = rows.head(TOP_STREAMS if websocket else TOP_ENDPOINTS)
    return [(str(r.type), str(r.name)) for r in rows.itertuples()]


def _legend(axis: Axes, title: str | None = None, also: Axes | None = None) -> None:
    """Every labelled series of `axis` (and of its twin `also`) once (a label drawn several times, e.g. one ban span
    per ban, once)."""
    handles, labels = axis.get_legend_handles_labels()
    if also is not None:
        more_handles, more_labels = also.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    unique = dict(zip(labels, handles, strict=True))
    if unique:
        axis.legend(unique.values(), unique.keys(), fontsize="small", loc="best", title=title,
                    title_fontsize="small", ncols=2 if len(unique) > 6 else 1)
