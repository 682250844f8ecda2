"""A value that must never reach a file, a log or the terminal (an API key).

`Secret` hides its value from `str`, `repr`, f-strings and formatting, so a config object
that holds one can be printed, logged or put in an error message without leaking it; code
that must send the value (an HTTP header) asks for it with `reveal()`, at the edge.
Comparison against a presented value is constant-time (`matches`), so a server checking a
key does not tell by its response time how much of a guess was right.
"""

from __future__ import annotations

import hmac
from typing import Final

__all__ = ["MASK", "Secret"]

MASK: Final = "[redacted]"


class Secret:
    """An opaque secret string; `reveal()` is the only way to read it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not value:
            raise ValueError("a secret must not be empty")
        self._value = value

    def reveal(self) -> str:
        return self._value

    def matches(self, presented: str | None) -> bool:
        """Whether `presented` equals the secret, in time independent of where they differ."""
        if presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self._value.encode())

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.matches(other._value)

    def __hash__(self) -> int:
        return hash(Secret)  # equal secrets must hash alike; the value stays out of it

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # worker processes and Ray actors receive the config pickled: the value must travel
        return (Secret, (self._value,))
