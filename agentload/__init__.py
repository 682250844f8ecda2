"""The agentload command-line interface: thin commands over the packages."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # One version source: pyproject.toml, as installed. Looked up on first use, not at
    # import: importlib.metadata costs ~50 ms, and the console script holds SIGINT/SIGTERM
    # only once this package is imported (agentload.entry).
    if name == "__version__":
        from importlib.metadata import version

        return version("agentload")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
