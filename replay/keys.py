"""API keys and the redaction of credentials: what replay sends, and what it never shows.

Keys come from `--api-key` or the environment (`resolve_keys`, a pure function of the flag
and an environment mapping) and are sent as each API expects (`providers.api.auth_headers`).
Precedence, first found wins, per API: `--api-key`, `AGENTLOAD_API_KEY` (both for every
API), then the provider's own variable (`OPENAI_API_KEY` for the OpenAI APIs,
`ANTHROPIC_API_KEY` for Anthropic messages). A credential header given with `--header`
wins over the environment.

Header values are secret unless marked public (`--public-header`); credential headers
(`providers.api.CREDENTIAL_HEADERS`) are secret even then. META_INFO records them through
`providers.api.shown_headers`; `Redactor` removes secret values from text a server sent
back (an error message echoing the request) before it reaches a row, summary or report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agentload.base.errors import ConfigError
from agentload.base.secret import MASK, Secret
from agentload.providers.api import CREDENTIAL_HEADERS, KEY_ENV, Api, auth_headers

__all__ = ["SHARED_KEY_ENV", "ApiKeys", "Redactor", "resolve_keys"]

SHARED_KEY_ENV = "AGENTLOAD_API_KEY"
_FLAG = "--api-key"
# Values shorter than this are not searched for in server text: a short value (a "1" in a
# non-credential header) would blank out unrelated characters. Keys are far longer.
_MIN_SCRUB_CHARS = 8


@dataclass(frozen=True)
class ApiKeys:
    """The key to send per API, and where each came from (recorded, the values never)."""

    keys: tuple[tuple[Api, Secret, str], ...] = ()  # (api, key, source: flag or variable)

    def key(self, api: Api) -> Secret | None:
        return next((k for a, k, _ in self.keys if a is api), None)

    def headers(self, api: Api) -> dict[str, str]:
        """The header carrying `api`'s key (none without a key)."""
        key = self.key(api)
        return {} if key is None else auth_headers(api, key.reveal())

    def sources(self) -> dict[str, str]:
        """{api: "--api-key" | environment variable} for META_INFO: no values."""
        return {str(api): source for api, _, source in self.keys}

    def secrets(self) -> list[str]:
        return [k.reveal() for _, k, _ in self.keys]


def resolve_keys(
    flag: str | None, env: Mapping[str, str], header_names: Iterable[str] = ()
) -> ApiKeys:
    """The keys per API from `--api-key` (`flag`) and `env` (module docstring).

    A credential header among `header_names` (the `--header` names) carries the user's own
    key: the environment is then not consulted, and `--api-key` beside it is an error."""
    given = {name.lower() for name in header_names} & CREDENTIAL_HEADERS
    if flag is not None and not flag:
        raise ConfigError(f"{_FLAG}: must not be empty")
    if flag and given:
        raise ConfigError(f"{_FLAG} and --header {sorted(given)[0]} both give a key: give one")
    if given:
        return ApiKeys()
    keys = []
    for api in Api:
        for name in (_FLAG, SHARED_KEY_ENV, KEY_ENV[api]):
            value = flag if name == _FLAG else env.get(name)
            if value:
                keys.append((api, Secret(value), name))
                break
    return ApiKeys(tuple(keys))


class Redactor:
    """Replaces secret values in text a server sent back (error messages) by the mask."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str]) -> None:
        pieces = set()
        for value in values:
            pieces.add(value)
            # "Bearer KEY" and "Basic X": the credential alone may be echoed too
            pieces.add(value.partition(" ")[2].strip())
        # longest first, so a value containing another is masked whole
        self._values = sorted((p for p in pieces if len(p) >= _MIN_SCRUB_CHARS), key=len)[::-1]

    def __bool__(self) -> bool:
        return bool(self._values)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text
