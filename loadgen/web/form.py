"""The start form of Locust's web UI: readable labels for the suite's options, `make run`'s defaults, and
the scenario dropdown choosing the load shape.

Locust's form labels a custom option with its field name (camelCased, then split at capitals: `ws_host`
becomes "Ws Host") and posts it back under that name (snake_cased again, unless it starts with a capital).
So the form gets each option under its label, which starts with a capital and has no "_", and the posted
form is mapped back to the options' own names before Locust reads it: the options, their flags and the
code reading them stay as they are, and so do their values and validation (`loadgen.options.parse_settings`).
"""

from __future__ import annotations

from typing import Any

from flask import request
from locust.env import Environment
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from loadgen.pacing.scenarios import SCENARIOS, SHAPE_CLASS_NAME

SWARM_ENDPOINT = "locust.swarm"
DEFAULT_SCENARIO = SCENARIOS["default"]  # what `make run` runs: its users, spawn rate and run time fill the form

# option name -> its label in the form, in the form's order (options not listed come after, unlabelled).
LABELS: dict[str, str] = {
    "scenario": "Scenario",
    "exchange": "Exchange",
    "symbols": "Symbols",
    "streams": "Streams",
    "mode": "Mode",
    "target_rps": "Target rate (req/s)",
    "weight_budget": "Weight budget",
    "weight_limit": "Weight limit",
    "backoff": "Backoff",
    "on_ban": "On a ban",
    "breaker": "Circuit breaker",
    "order_endpoint": "Order endpoint",
    "order_burst": "Orders per burst",
    "order_pause": "Pause between bursts (s)",
    "ws_host": "WS URL",
}
OPTION_OF = {label: name for name, label in LABELS.items()}


def install(environment: Environment) -> None:
    """Relabel the form's options, fill in `make run`'s defaults, and map the posted form back."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    # The page's template arguments (`tojson`) keep the order above: Jinja sorts their keys by default.
    web_ui.app.jinja_env.policies["json.dumps_kwargs"] = {"sort_keys": False}
    update_template_args = web_ui.update_template_args

    def update_with_labels() -> None:
        update_template_args()
        web_ui.template_args.update(form_args(web_ui.template_args, environment.parsed_options))

    web_ui.update_template_args = update_with_labels

    @web_ui.app.before_request
    def map_the_posted_form() -> None:
        if request.endpoint == SWARM_ENDPOINT:
            shapes = environment.available_shape_classes or {}
            request.form = posted_form(request.form, SHAPE_CLASS_NAME in shapes)


def form_args(template_args: dict[str, Any], options: Any) -> dict[str, Any]:
    """The template arguments the form is built from, with labelled options and `make run`'s defaults for
    what the command line left unset."""
    extra = template_args.get("extra_options") or {}
    ordered = [name for name in LABELS if name in extra] + [name for name in extra if name not in LABELS]
    out: dict[str, Any] = {"extra_options": {LABELS.get(name, name): extra[name] for name in ordered}}
    if options is not None and getattr(options, "num_users", None) is None:
        out["num_users"] = DEFAULT_SCENARIO.users
    if options is not None and getattr(options, "spawn_rate", None) is None:
        out["spawn_rate"] = DEFAULT_SCENARIO.spawn_rate
    if options is not None and getattr(options, "run_time", None) is None:
        out["run_time"] = f"{DEFAULT_SCENARIO.duration_s}s"
    return out


def posted_form(form: Any, shape_loaded: bool) -> ImmutableMultiDict[str, str]:
    """The posted start form with the options under their own names; with the scenario shape loaded, a
    shaped scenario runs as that shape and `default` as Locust's own -u/-r, whatever shape was picked."""
    mapped: MultiDict[str, str] = MultiDict()
    for key, values in form.lists():
        mapped.setlist(OPTION_OF.get(key, key), values)
    scenario = SCENARIOS.get(mapped.get("scenario", ""))
    if shape_loaded and scenario is not None:
        mapped["shape_class"] = SHAPE_CLASS_NAME if scenario.shaped else "Default"
    return ImmutableMultiDict(mapped)
