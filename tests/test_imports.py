"""Provider wire formats have one home (`providers`, which depends on nothing of ours), and
capture, replay and the sim take them from there, never from one another."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OURS = {"providers", "traceformat", "capture", "profiles", "replay", "simengine", "agentload"}
# Packages each package must not import.
FORBIDDEN = {
    "providers": OURS - {"providers"},
    "capture": {"replay", "simengine", "profiles", "agentload"},
    "replay": {"capture", "simengine", "agentload"},
    "simengine": {"capture", "replay", "profiles", "agentload"},
}
# Orchestration that still lives below the CLI layer (issue "One home per concept" moves it
# up): it starts the sim for `agentload demo`; it reads no wire format of the sim's.
KNOWN = {("replay/report/demo.py", "simengine")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names & OURS


def test_no_package_imports_what_it_must_not() -> None:
    broken = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for name in sorted(_imports(path) & forbidden):
                if (rel, name) not in KNOWN:
                    broken.append(f"{rel} imports {name}")
    assert not broken, "\n".join(broken)


def test_the_rule_sees_imports() -> None:
    """The check can fail: it finds the imports this very tree has."""
    assert "traceformat" in _imports(ROOT / "capture" / "process.py")
    assert "providers" in _imports(ROOT / "replay" / "client.py")
    assert "simengine" in _imports(ROOT / "replay" / "report" / "demo.py")
