"""No import cycle among the project's modules: every import, late or under TYPE_CHECKING, points one way.

The imports are read with the stdlib's `ast` (nothing is imported), resolved to the project's own modules
(relative imports and `from package import module` included), and the cycles are the strongly connected
components of that graph.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import PACKAGES, cycles, import_graph, imports_of


def test_the_cycle_finder_sees_relative_and_package_imports(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from . import b\n")
    (tmp_path / "pkg" / "b.py").write_text("def f():\n    from pkg.c import X\n")
    type_hints_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\nX = 1\n"
    (tmp_path / "pkg" / "c.py").write_text(type_hints_only)
    (tmp_path / "pkg" / "d.py").write_text("from pkg import a\n")
    modules = {f"pkg.{n}": tmp_path / "pkg" / f"{n}.py" for n in "abcd"} | {"pkg": tmp_path / "pkg" / "__init__.py"}
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.d"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]


def test_the_graph_covers_the_project() -> None:
    graph = import_graph()
    assert {"loadgen.runtime", "loadgen.runner.cli", "exchanges.base", "simulator.app", "locustfiles.binance"} <= set(
        graph
    )
    assert "loadgen.pacing.cluster_budget" in graph["loadgen.runtime"]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle_among_the_project_modules(package: str) -> None:
    found = [c for c in cycles(import_graph()) if any(m == package or m.startswith(f"{package}.") for m in c)]
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(component) for component in found)
