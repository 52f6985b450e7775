"""The runner (`loadgen/runner/`) is a plain process: neither it nor any project module it imports, however
indirectly, imports Locust or gevent (which would monkey-patch the runner's process). Read with `ast`."""

from __future__ import annotations

import ast

from tests.support.imports import imports_of, module_files

IN_LOCUST = ("locust", "gevent", "geventhttpclient")


def _third_party_roots(path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_runner_never_imports_locust_or_gevent() -> None:
    modules = module_files()
    start = [name for name in modules if name == "loadgen.runner" or name.startswith("loadgen.runner.")]
    assert "loadgen.runner.cli" in start
    seen: dict[str, str | None] = dict.fromkeys(start)  # module -> the module that imports it
    queue = list(start)
    while queue:
        name = queue.pop()
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}  # imported first
        for target in imports_of(name, modules[name], modules) | (parents & modules.keys()):
            if target not in seen:
                seen[target] = name
                queue.append(target)
    offenders = []
    for name in seen:
        bad = _third_party_roots(modules[name]) & set(IN_LOCUST)
        if bad:
            chain = [name]
            while seen[chain[-1]] is not None:
                chain.append(seen[chain[-1]])
            offenders.append(f"{' <- '.join(chain)} imports {', '.join(sorted(bad))}")
    assert not offenders, "\n".join(offenders)
