"""Compatibility alias: the exception hierarchy lives in `agentload.base.errors`.

Kept only while replay/distributed/fleet.py (being reworked elsewhere) still imports this
name; import from `agentload.base.errors` everywhere else. Remove with its last user.
"""

from agentload.base.errors import (
    AgentloadError,
    ConfigError,
    CorruptFileError,
    FormatError,
    VersionError,
    WrongKindError,
)

__all__ = [
    "AgentloadError",
    "ConfigError",
    "CorruptFileError",
    "FormatError",
    "VersionError",
    "WrongKindError",
]
