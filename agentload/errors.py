"""Errors the CLI reports as one line (no traceback).

Packages raise subclasses of `traceformat.errors.AgentloadError` for bad input; the CLI
catches that base class only, so a real bug still shows its traceback.
"""

from agentload.traceformat.errors import AgentloadError

__all__ = ["AgentloadError"]
