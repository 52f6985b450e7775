"""One seam per venue: outside `simulator/<venue>/`, no module of the simulator imports a venue or names one in code
(docstrings, comments and help text aside); the simulator takes its venues from the registry, `exchanges.NAMES`."""

from __future__ import annotations

import ast
from pathlib import Path

from exchanges import NAMES
from simulator.venues import VENUES

SIMULATOR = Path(__file__).resolve().parent.parent / "simulator"


def _shared_modules() -> list[Path]:
    venue_dirs = {SIMULATOR / name for name in NAMES}
    return [path for path in sorted(SIMULATOR.rglob("*.py"))
            if not any(d in path.parents for d in venue_dirs)]


def _docstrings(tree: ast.Module) -> set[int]:
    """ids of the string constants that are docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_every_registered_venue_is_simulated_from_its_own_package() -> None:
    assert [venue.name for venue in VENUES] == list(NAMES)
    for name in NAMES:
        assert (SIMULATOR / name / "config.py").is_file(), name
        assert (SIMULATOR / name / "ws.py").is_file(), name


def test_no_shared_simulator_module_names_a_venue() -> None:
    offences = []
    for path in _shared_modules():
        tree = ast.parse(path.read_text(), str(path))
        docstrings = _docstrings(tree)
        for node in ast.walk(tree):
            modules: list[str] = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [f"{node.module}.{alias.name}" for alias in node.names]
            for module in modules:
                if any(part in NAMES for part in module.split(".")):
                    offences.append(f"{path.name}:{node.lineno} imports {module}")
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
                    and any(name in node.value.lower() for name in NAMES)):
                offences.append(f"{path.name}:{node.lineno} names a venue: {node.value!r}")
    assert not offences, offences
