"""The import rules of docs/ARCHITECTURE.md, over the whole tree: every package imports only
the packages below it (so there are no cycles and no sideways imports), and nothing imports
our packages by their folder names (everything is `agentload.<package>`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAPPED = (
    "base",
    "providers",
    "traceformat",
    "capture",
    "profiles",
    "replay",
    "simengine",
    "analysis",
)
# The layers of ARCHITECTURE.md: each package may import exactly these of ours. `cli` is
# agentload/ itself (the commands and the orchestration of several packages).
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "providers": {"base"},
    "traceformat": {"base", "providers"},
    "analysis": {"base", "traceformat", "providers"},
    "capture": {"base", "traceformat", "providers"},
    "profiles": {"base", "traceformat", "providers"},
    "replay": {"base", "traceformat", "providers", "analysis"},
    "simengine": {"base", "providers", "traceformat"},
    "cli": {*MAPPED},
}


def _package(path: Path) -> str:
    top = path.relative_to(ROOT).parts[0]
    return top if top in MAPPED else "cli"


def _imports(path: Path) -> tuple[set[str], set[str]]:
    """(our packages imported as agentload.<package>, names imported by a bare folder name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    modules: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.append(node.module)
    ours, bare = set(), set()
    for module in modules:
        parts = module.split(".")
        if parts[0] == "agentload":
            ours.add(parts[1] if len(parts) > 1 and parts[1] in MAPPED else "cli")
        elif parts[0] in MAPPED:
            bare.add(module)
    return ours, bare


def _sources() -> list[Path]:
    return sorted(p for top in (*MAPPED, "agentload") for p in (ROOT / top).rglob("*.py"))


def test_every_package_imports_only_the_layers_below_it() -> None:
    broken = []
    for path in _sources():
        package = _package(path)
        ours, bare = _imports(path)
        rel = path.relative_to(ROOT)
        broken += [f"{rel} imports {name}" for name in sorted(ours - ALLOWED[package] - {package})]
        broken += [f"{rel} imports {name} by its folder name" for name in sorted(bare)]
    assert not broken, "\n".join(broken)


def test_tests_and_benchmarks_use_installed_names() -> None:
    bare = [
        f"{p.relative_to(ROOT)}: {name}"
        for top in ("tests", "benchmarks")
        for p in sorted((ROOT / top).rglob("*.py"))
        for name in sorted(_imports(p)[1])
    ]
    assert not bare, "\n".join(bare)


def test_the_layers_form_no_cycle() -> None:
    done: set[str] = set()

    def visit(package: str, path: tuple[str, ...]) -> None:
        assert package not in path, " -> ".join((*path, package))
        if package not in done:
            for below in ALLOWED[package]:
                visit(below, (*path, package))
            done.add(package)

    for package in ALLOWED:
        visit(package, ())


def test_the_rule_sees_imports() -> None:
    """The checks can fail: they find the imports this very tree has."""
    assert _imports(ROOT / "capture" / "process.py")[0] >= {"traceformat", "providers"}
    assert "simengine" in _imports(ROOT / "agentload" / "orchestration" / "demo.py")[0]
    assert _package(ROOT / "agentload" / "orchestration" / "demo.py") == "cli"
