"""Compatibility alias: deadline waits live in `agentload.base.pacer`.

Kept only while replay/worker.py (being reworked elsewhere) still imports this name; import
from `agentload.base.pacer` everywhere else. Remove with its last user.
"""

from agentload.base.pacer import close_pacer, sleep_until

__all__ = ["close_pacer", "sleep_until"]
