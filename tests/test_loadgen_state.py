"""The suite's per-environment state: one SuiteState per environment, kept on the environment itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from loadgen import state


class FakeEnvironment:  # any object that takes attributes, as Locust's Environment does
    pass


@dataclass
class Part:
    items: list[int] = field(default_factory=list)


def test_each_environment_has_its_own_state_on_itself():
    one, two = FakeEnvironment(), FakeEnvironment()
    assert state.of(one) is state.of(one) is getattr(one, state.ATTRIBUTE)
    assert state.of(one) is not state.of(two)
    state.of(one).part(Part, Part).items.append(1)
    assert state.of(one).part(Part, Part).items == [1]
    assert state.of(two).get(Part) is None


def test_set_replaces_the_part_of_its_class():
    env = FakeEnvironment()
    first = state.of(env).set(Part([1]))
    second = state.of(env).set(Part([2]))
    assert state.of(env).get(Part) is second is not first


def test_a_hook_is_installed_once_per_environment():
    one, two = FakeEnvironment(), FakeEnvironment()
    assert state.of(one).first_install("loadgen.ending.run_end")
    assert not state.of(one).first_install("loadgen.ending.run_end")
    assert state.of(two).first_install("loadgen.ending.run_end")
