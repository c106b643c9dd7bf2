"""Layout (DESIGN §2): the import graph of tlgeo/ has no cycle, and only tlgeo/cli/ imports argparse.

The graph is built with ``ast`` from every ``import`` in every module — inside functions and ``TYPE_CHECKING``
blocks too — so a cycle cannot hide behind a lazy import. Importing ``a.b.c`` runs the packages ``a.b`` and ``a``
first, so an edge to a submodule also counts as an edge to the packages above it (within tlgeo).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "tlgeo"


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``tlgeo/cli/main.py`` → ``tlgeo.cli.main``; ``tlgeo/cli/__init__.py`` → ``tlgeo.cli``."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path, module: str) -> set[str]:
    """Dotted names a file imports anywhere in it (absolute and relative; ``from a import b`` gives ``a`` and
    ``a.b``)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
    return names


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the tlgeo modules it imports (and their parent packages), from the source alone."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        edges: set[str] = set()
        for name in imported_names(path, module):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # the packages above it run first
                target = ".".join(parts[:i])
                if target in files and target != module and not module.startswith(target + "."):
                    edges.add(target)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or ``None`` (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
                path.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return None


def test_tlgeo_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50 and "tlgeo.cli.main" in graph["tlgeo.cli"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_finds_lazy_and_relative_cycles(tmp_path):
    """The checker itself: a cycle hidden in a function body and through a relative import is found."""
    pkg = tmp_path / "tlgeo"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from tlgeo.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("from .c import x\n")
    (pkg / "sub" / "c.py").write_text("import tlgeo.a\nx = 1\n")
    graph = import_graph(pkg)
    assert graph["tlgeo.a"] == {"tlgeo.sub", "tlgeo.sub.b"}
    assert find_cycle(graph) == ["tlgeo.a", "tlgeo.sub.b", "tlgeo.sub.c", "tlgeo.a"]
    (pkg / "sub" / "c.py").write_text("x = 1\n")
    assert find_cycle(import_graph(pkg)) is None


def test_only_tlgeo_cli_imports_argparse():
    offenders = [
        str(p.relative_to(ROOT))
        for p in sorted(PACKAGE.rglob("*.py"))
        if (PACKAGE / "cli") not in p.parents
        and any(n == "argparse" or n.startswith("argparse.") for n in imported_names(p, module_name(p)))
    ]
    assert offenders == []
    assert "argparse" in imported_names(PACKAGE / "cli" / "main.py", "tlgeo.cli.main")


def test_cli_flag_defaults_are_the_settings_defaults():
    """A default lives in one place: ``train``/``compare`` with no flags build exactly ``TrainConfig()``; plan's
    defaults are ``ActiveSettings()``; choices come from the registries."""
    from tlgeo.active import ActiveSettings
    from tlgeo.cli import build_parser
    from tlgeo.cli.train import config_from_args
    from tlgeo.config import STRATEGIES, TrainConfig
    from tlgeo.tasks import list_tasks

    parser = build_parser()
    train = parser.parse_args(["train", "--data", "d"])
    assert config_from_args(train) == TrainConfig()
    compare = parser.parse_args(["compare", "--data", "d"])
    assert config_from_args(compare, strategy=TrainConfig().strategy) == TrainConfig(refit=True)
    assert set(compare.strategies.split(",")) <= set(STRATEGIES)
    plan = parser.parse_args(["plan", "--run", "r", "--out", "o", "--budget", "3"])
    assert ActiveSettings(plan.uncertainty, plan.weight, plan.min_distance_m, plan.seed) == ActiveSettings()
    task_flag = next(a for a in parser._subparsers._group_actions[0].choices["train"]._actions if a.dest == "task")
    assert list(task_flag.choices) == list_tasks()
