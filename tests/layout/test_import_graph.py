"""The tree says what it holds: no import cycle anywhere in bot/ or commands/, and no registry shared
between runtimes (everything a feature adds lives on the registry its runtime was built with).

The import graph is grimp's (import-linter's own engine), which sees imports inside function
bodies too, so a cycle cannot hide behind a late import.
"""

from __future__ import annotations

import grimp

from bot.assembly import build_runtime
from bot.core.config import BizraConfig, Secrets


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), smallest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return sorted(groups, key=len)


def test_no_import_cycle_in_bot_or_commands() -> None:
    graph = grimp.build_graph("bot", "commands")
    modules = {m for m in graph.modules if m.split(".")[0] in ("bot", "commands")}
    assert len(modules) > 50, "the graph must cover the whole tree"
    assert _cycles(graph, modules) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="c")
    graph.add_import(importer="c", imported="a")
    assert _cycles(graph, {"a", "b", "c"}) == [["a", "b", "c"]]


def test_each_runtime_has_its_own_registry() -> None:
    first = build_runtime(BizraConfig(), Secrets())
    second = build_runtime(BizraConfig(), Secrets())
    first.registry.add_breach_listener(lambda runtime, event: None)
    assert first.registry is not second.registry
    assert len(first.registry.breach_listeners) == len(second.registry.breach_listeners) + 1
    assert set(first.registry.subcommands) == set(second.registry.subcommands) >= {
        "help", "gates", "slo", "canary", "rollback", "verify", "audit"}
