"""One seam per venue: a venue is exchanges/<venue>.py, simulator/<venue>/, locustfiles/<venue>.py and its line in
the registry (`exchanges.NAMES`); no other module of exchanges/, analysis/, locustfiles/ or loadgen/ names one.

Docstrings, comments and help text may name venues (as examples); code, identifiers and other strings may not. The
modules are read with `ast`, so comments are never seen and docstrings and `help=`/`description=` arguments are
skipped. The places that still name a venue are listed below as known, each with why, to be cleaned up.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from exchanges import NAMES, adapter_module, get_adapter, locustfile_module, locustfile_path
from simulator.venues import VENUES

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("exchanges", "analysis", "locustfiles", "loadgen", "simulator")
VENUE = re.compile("|".join(NAMES), re.IGNORECASE)
HELP_KEYWORDS = frozenset({"help", "description", "epilog", "usage"})
REGISTRY = ("exchanges/__init__.py", "NAMES")  # the module and the assignment whose value is the registry

# Help text in loadgen/ that the ast check cannot tell from code (an error message's example, the options table),
# matched by text so that moving a module keeps it known.
KNOWN_LOADGEN_FRAGMENTS = {
    "testnet.binance.vision": "cli: the example base URL in the --host/--ws-host errors",
    "Kraken's HTTP-200 errors": "options: --backoff's help text in the options table",
    "Binance 418, Kraken's lockout": "options: --on-ban's help text in the options table",
}


def _venue_places() -> set[str]:
    """What belongs to a venue, relative to the repository: its adapter, its locustfile, its simulator package."""
    places = set()
    for name in NAMES:
        places |= {f"exchanges/{name}.py", locustfile_path(name), f"simulator/{name}/"}
    return places


def _is_registry(node: ast.AST, relative: str) -> bool:
    return (relative == REGISTRY[0] and isinstance(node, ast.AnnAssign | ast.Assign)
            and REGISTRY[1] in {t.id for t in ast.walk(node) if isinstance(t, ast.Name)})


def _unchecked_part(node: ast.AST, relative: str) -> ast.AST | None:
    """The part of `node` that is a docstring, help text or the registry's value; None when none is."""
    if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
        first = node.body[0]
        is_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        return first if is_docstring and isinstance(first.value.value, str) else None
    if isinstance(node, ast.keyword) and node.arg in HELP_KEYWORDS:
        return node.value
    if _is_registry(node, relative):
        return node.value
    return None


def _skipped_nodes(tree: ast.AST, relative: str) -> set[int]:
    """Docstrings, help text and the registry's line: nodes (and their children) not checked."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        part = _unchecked_part(node, relative)
        if part is not None:
            skipped.update(id(sub) for sub in ast.walk(part))
    return skipped


def _texts(node: ast.AST) -> Iterator[str]:
    """The names and text a node spells out itself (its children are visited on their own)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
        yield node.value if isinstance(node.value, str) else node.value.decode(errors="replace")
    elif isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Attribute):
        yield node.attr
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        yield node.name
    elif isinstance(node, ast.arg | ast.keyword) and node.arg:
        yield node.arg
    elif isinstance(node, ast.alias):
        yield node.name
        yield node.asname or ""
    elif isinstance(node, ast.ImportFrom):
        yield node.module or ""


def venue_mentions(path: Path, relative: str) -> Iterator[tuple[int, str]]:
    """(line, text) of every name or string in the code of `path` (at `relative` in the repository) that names a
    venue, outside docstrings and help text."""
    tree = ast.parse(path.read_text(), str(path))
    skipped = _skipped_nodes(tree, relative)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        for text in _texts(node):
            if VENUE.search(text):
                yield getattr(node, "lineno", 0), text


def _known(package: str, text: str) -> bool:
    if package != "loadgen":
        return False
    return any(fragment in text for fragment in KNOWN_LOADGEN_FRAGMENTS)


def _modules(package: str) -> list[Path]:
    return sorted((REPO_ROOT / package).rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(REPO_ROOT).as_posix()


def _outside_venues(path: Path) -> bool:
    relative = _relative(path)
    return not any(relative == place or relative.startswith(place) for place in _venue_places())


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_outside_a_venues_places_names_a_venue(package: str) -> None:
    found = [
        f"{_relative(path)}:{line}: {text[:80]!r}"
        for path in _modules(package) if _outside_venues(path)
        for line, text in venue_mentions(path, _relative(path)) if not _known(package, text)
    ]
    assert not found, "a venue named outside its own places (see docs/adding-an-exchange.md):\n" + "\n".join(found)


def test_the_check_sees_code_and_skips_docstrings_comments_and_help(tmp_path: Path) -> None:
    module = tmp_path / "probe.py"
    venue = NAMES[0]
    module.write_text(
        f'"""The {venue} docstring."""\n'
        f"# a {venue} comment\n"
        f"import argparse\n"
        f'argparse.ArgumentParser().add_argument("--x", help="{venue} help")\n'
        f"def f({venue}_arg):\n"
        f'    """{venue}."""\n'
        f'    return {{"k": f"{venue.title()}:{{1}}"}}\n'
    )
    mentions = list(venue_mentions(module, "loadgen/probe.py"))
    assert mentions == [(5, f"{venue}_arg"), (7, f"{venue.title()}:")]


@pytest.mark.parametrize("name", NAMES)
def test_each_registered_venue_has_its_adapter_locustfile_and_simulator_package(name: str) -> None:
    """The naming rule the runner, Docker's entrypoint and locustfiles/all.py rely on."""
    assert (REPO_ROOT / (adapter_module(name).replace(".", "/") + ".py")).is_file()
    assert get_adapter(name).name == name
    locustfile = REPO_ROOT / locustfile_path(name)
    assert locustfile.is_file(), f"{name}: {locustfile_path(name)} missing"
    assert locustfile_module(name) == locustfile_path(name).removesuffix(".py").replace("/", ".")
    tree = ast.parse(locustfile.read_text())
    imported = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert (adapter_module(name), "ADAPTER") in imported, f"{locustfile_path(name)} does not use {name}'s adapter"
    assert (REPO_ROOT / "simulator" / name / "config.py").is_file() and name in [venue.name for venue in VENUES]
    assert (REPO_ROOT / "simulator" / name / "__init__.py").is_file()
