"""The built-in profiles shipped with agentload.

Regenerate: `python -m agentload.profiles.generate`."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from agentload.base.errors import ConfigError

_DIR: Final = Path(__file__).parent


def names() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(p.stem for p in _DIR.glob("*.arrow"))


def path(name: str) -> Path:
    """The Arrow file of built-in profile `name`; ConfigError naming the choices if unknown."""
    candidate = _DIR / f"{name}.arrow"
    if name not in names():
        raise ConfigError(f"unknown built-in profile {name!r}; choose one of: {', '.join(names())}")
    return candidate
