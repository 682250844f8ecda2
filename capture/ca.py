"""The proxy's CA: where it is (made on first use, as mitmproxy makes it) and how to make
clients trust it, for `--mode regular`, where the proxy terminates the clients' TLS."""

from __future__ import annotations

from pathlib import Path

from agentload.base.errors import ConfigError

__all__ = ["ensure_ca", "trust_instructions"]


def ensure_ca(confdir: Path) -> Path:
    """The CA certificate's path in `confdir` (mitmproxy's `<basename>-ca-cert.pem`), after
    making the CA there if it is absent, exactly as mitmproxy would on start."""
    from mitmproxy import certs, options

    path = confdir.expanduser()
    try:
        certs.CertStore.from_store(
            path,
            options.CONF_BASENAME,
            options.Options().key_size,
        )
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            f"--confdir: {path}: cannot read or make the proxy's CA: {reason}"
        ) from None
    return path / f"{options.CONF_BASENAME}-ca-cert.pem"


def trust_instructions(cert: Path, listen: str = "127.0.0.1:8080") -> str:
    """How the common agents and SDKs trust `cert` and use the proxy (plain text)."""
    return f"""\
The proxy's CA certificate: {cert}

`agentload capture --mode regular` decrypts the HTTPS traffic of the hosts it records
(--record-host) with certificates signed by this CA; other hosts are tunnelled untouched.
A client must trust the CA and use the proxy:

  export HTTPS_PROXY=http://{listen}    # most clients, Claude Code and Codex too

  Claude Code, other Node.js programs (added to Node's built-in store):
    export NODE_EXTRA_CA_CERTS={cert}
  Codex (its requests come from Rust, which NODE_EXTRA_CA_CERTS does not reach):
    export CODEX_CA_CERTIFICATE={cert}
  Python SDKs (openai, anthropic: httpx) and requests:
    export SSL_CERT_FILE=bundle.pem REQUESTS_CA_BUNDLE=bundle.pem
    (these replace the default store: make bundle.pem from the store plus the CA, e.g.
     cat "$(python -m certifi)" {cert} > bundle.pem)
  curl: --cacert {cert} (also replaces the store)

Keep the directory private: it holds the CA's key, which can sign for any host."""
