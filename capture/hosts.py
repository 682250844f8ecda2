"""Which hosts a forward proxy (`--mode regular`) records: `--record-host` rules and their
default, the known LLM API hosts (the one list; docs/capture.md shows it).

A rule is `HOST`, `HOST:PORT` or `*.DOMAIN[:PORT]` (any subdomain of DOMAIN, at any depth);
without a port it matches every port. Hosts compare case-insensitively.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["LLM_API_HOSTS", "HostRule", "allow_pattern", "parse_host_rule"]

# Hosts serving the OpenAI (chat, completions, responses) or Anthropic Messages APIs.
LLM_API_HOSTS: Final[tuple[str, ...]] = (
    "api.openai.com",
    "api.anthropic.com",
    "generativelanguage.googleapis.com",  # Gemini's OpenAI-compatible endpoint
    "openrouter.ai",
    "*.openai.azure.com",
    "api.mistral.ai",
    "api.groq.com",
    "api.deepseek.com",
    "api.together.xyz",
    "api.fireworks.ai",
    "api.x.ai",
    "api.cerebras.ai",
    "api.moonshot.ai",
)

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class HostRule:
    host: str  # lower case; for a wildcard, the domain after "*."
    port: int | None  # None: any port
    wildcard: bool = False

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and port != self.port:
            return False
        host = host.lower().rstrip(".")
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == self.host


def parse_host_rule(text: str) -> HostRule:
    """`HOST`, `HOST:PORT`, `*.DOMAIN[:PORT]`, `[IPv6]:PORT`; ValueError naming what is wrong."""
    spec = text.strip().lower()
    host, port = spec, None
    if spec.startswith("["):  # [IPv6] or [IPv6]:PORT
        host, _, rest = spec[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"expected [IPv6]:PORT, got {text!r}")
        port = _port(text, rest[1:]) if rest else None
    elif spec.count(":") == 1:
        host, _, port_text = spec.partition(":")
        port = _port(text, port_text)
    wildcard = host.startswith("*.")
    name = host[2:] if wildcard else host
    if not _valid_name(name, allow_ip=not wildcard):
        raise ValueError(f"expected HOST, HOST:PORT or *.DOMAIN[:PORT], got {text!r}")
    return HostRule(name, port, wildcard)


def _port(text: str, port_text: str) -> int:
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"{text!r}: the port must be 1 to 65535")
    return int(port_text)


def _valid_name(name: str, allow_ip: bool) -> bool:
    try:
        ipaddress.ip_address(name)
        return allow_ip
    except ValueError:
        pass
    labels = name.rstrip(".").split(".")
    return bool(name) and all(_LABEL.match(label) for label in labels)


def allow_pattern(rule: HostRule) -> str:
    """The rule as a regex for mitmproxy's `allow_hosts`, which searches `host:port` strings
    (the address, the SNI, the Host header): connections to other hosts are not intercepted."""
    host = re.escape(rule.host)
    name = rf"(?:[^.:]+\.)+{host}" if rule.wildcard else host
    port = str(rule.port) if rule.port is not None else r"\d+"
    return rf"^{name}:{port}$"
