"""The web UI's start form: dropdowns, a checkbox, the options it hides, readable labels that survive the
form's round trip, `make run`'s defaults, and the scenario choosing the load shape."""

import re
import sys

import pytest
from locust.argument_parser import get_empty_argument_parser

from loadgen import options
from loadgen.pacing import shapes
from loadgen.pacing.scenarios import SCENARIO_OPTIONS, SCENARIOS, SHAPE_CLASS_NAME
from loadgen.web import exchange_choice, form, security
from tests.gevent.test_loadgen_webui import OWN, environment


@pytest.fixture(autouse=True)
def locust_argv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust"])  # Locust's UI reads the command line for its form


def suite_parser():
    parser = get_empty_argument_parser()
    for add in (options.add_arguments, shapes.add_arguments, exchange_choice.add_arguments, security.add_arguments):
        add(parser)
    return parser


def dest(flag: str) -> str:
    return flag[2:].replace("-", "_")


def test_choices_are_dropdowns_with_the_documented_values_and_defaults():
    shown = suite_parser().args_included_in_web_ui
    assert shown["mode"].choices == ["probe", "polite"] and shown["mode"].default == "probe"
    assert shown["order_endpoint"].choices == ["test", "live"] and shown["order_endpoint"].default == "test"
    assert shown["backoff"].choices == ["auto", "on", "off", "retry-after"] and shown["backoff"].default == "auto"
    assert shown["on_ban"].choices == ["stop-user", "stop-run"] and shown["on_ban"].default == "stop-user"
    assert shown["scenario"].choices == list(SCENARIOS) and shown["scenario"].default == "default"
    assert shown["breaker"].default is False  # a boolean default: Locust's form shows a checkbox


def test_the_form_shows_the_core_options_and_hides_the_rarely_used_ones():
    shown = set(suite_parser().args_included_in_web_ui) - set(get_empty_argument_parser().args_included_in_web_ui)
    assert shown == set(form.LABELS)
    hidden = {dest(f) for f in options.NOT_IN_WEB_UI} | {dest(f) for f, _, _ in SCENARIO_OPTIONS[1:]}
    assert {"ramp_max_rps", "capacity_step", "spike_cycles", "backoff_cap_s", "breaker_open_s"} <= hidden
    assert not shown & hidden


@pytest.mark.parametrize(
    ("args", "breaker"),
    [([], False), (["--breaker", "on"], True), (["--breaker", "off"], False),
     (["--breaker", "auto"], False), (["--breaker=ON"], True)],
)
def test_the_breaker_is_on_or_off_as_documented(args, breaker):
    assert suite_parser().parse_args(args).breaker is breaker


def test_the_command_line_still_takes_documented_values_and_refuses_others_in_one_line(capsys):
    parsed = suite_parser().parse_args(["--mode", "POLITE", "--backoff", "retry-after", "--scenario", "ramp",
                                        "--on-ban", "stop-run", "--order-endpoint", "live"])
    assert (parsed.mode, parsed.backoff, parsed.scenario, parsed.on_ban, parsed.order_endpoint) == (
        "polite", "retry-after", "ramp", "stop-run", "live")
    for bad in (["--mode", "fast"], ["--breaker", "maybe"], ["--scenario", "huge"]):
        with pytest.raises(SystemExit) as exit_:
            suite_parser().parse_args(bad)
        assert exit_.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and f"argument {bad[0]}" in lines[0] and bad[1] in lines[0], lines


def camel(name: str) -> str:  # Locust's web UI: the field name it gets (snake_case to camelCase)
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def snake(name: str) -> str:  # ... the name it posts back
    return name if name[0] == name[0].upper() else re.sub(r"([a-z0-9])([A-Z0-9])", r"\1_\2", name).lower()


def label(name: str) -> str:  # ... and the label it shows
    spaced = re.sub(r"([a-z0-9])([A-Z0-9])", r"\1 \2", name)
    return spaced[0].upper() + spaced[1:]


def test_every_label_shows_as_written_and_posts_back_unchanged():
    for name, text in form.LABELS.items():
        assert label(camel(text)) == text, name
        assert snake(camel(text)) == text, name
    assert len(set(form.LABELS.values())) == len(form.LABELS)
    assert (label(camel("ws_host")), label(camel("target_rps"))) == ("Ws Host", "Target Rps")  # without labels


def test_the_page_gets_labelled_options_in_order_and_make_runs_defaults():
    env = environment()
    env.web_ui.update_template_args()
    args = env.web_ui.template_args
    default = SCENARIOS["default"]
    assert (args["num_users"], args["spawn_rate"], args["run_time"]) == (default.users, default.spawn_rate, "60s")
    assert (default.users, default.spawn_rate, default.duration_s) == (12, 4, 60)
    extra = args["extra_options"]
    assert list(extra) == [text for text in form.LABELS.values() if text in extra]  # the form's order
    assert {"Exchange", "Symbols", "Mode", "Circuit breaker", "WS URL"} <= set(extra)
    assert extra["Mode"]["choices"] == ["probe", "polite"] and extra["Circuit breaker"]["default_value"] is False
    assert not [key for key in extra if "_" in key or key[0].islower()]
    page = env.web_ui.app.test_client().get("/").get_data(as_text=True)
    positions = [page.index(f'"{text}"') for text in ("Exchange", "Symbols", "Mode", "Backoff")]
    assert positions == sorted(positions)  # the form's order, not sorted by Jinja


def test_values_given_on_the_command_line_stay_the_forms_defaults(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["locust", "--mode", "polite"])  # Locust's form re-reads the command line
    env = environment("-u", "3", "-r", "2", "-t", "15s", "--mode", "polite")
    env.web_ui.update_template_args()
    args = env.web_ui.template_args
    assert (args["num_users"], args["spawn_rate"], args["run_time"]) == (3, 2, 15)
    assert args["extra_options"]["Mode"]["default_value"] == "polite"


def test_the_posted_form_reaches_the_options_by_their_own_names():
    env = environment()
    client = env.web_ui.app.test_client()
    reply = client.post("/swarm", headers={"Origin": OWN}, data={
        "user_count": "1", "spawn_rate": "1", "Mode": "polite", "Orders per burst": "7", "Circuit breaker": "true",
        "Symbols": "ETHUSDT", "Exchange": "binance"})
    assert reply.get_json()["success"], reply.get_json()
    o = env.parsed_options
    assert (o.mode, o.order_burst, o.breaker, o.symbols) == ("polite", "7", True, "ETHUSDT")
    env.runner.quit()


@pytest.mark.parametrize(
    ("scenario", "picked", "shape"),
    [("light", "Default", SHAPE_CLASS_NAME), ("ramp", "Default", SHAPE_CLASS_NAME),
     ("default", SHAPE_CLASS_NAME, "Default"), ("huge", "Default", "Default")],
)
def test_the_scenario_picks_the_shape(scenario, picked, shape):
    posted = form.posted_form(form.MultiDict({"Scenario": scenario, "shape_class": picked}), shape_loaded=True)
    assert posted["scenario"] == scenario and posted["shape_class"] == shape
    assert form.posted_form(form.MultiDict({"Scenario": scenario}), shape_loaded=False).get("shape_class") is None


def test_the_shape_class_name_is_the_shapes():
    assert shapes.ScenarioShape.__name__ == SHAPE_CLASS_NAME


def test_the_browser_test_expects_the_forms_order():
    from tests.test_e2e_web_form import ORDER

    assert tuple(form.LABELS.values()) == ORDER
