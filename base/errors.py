"""The exception hierarchy of agentload, its one home: every layer imports it from here.

Errors caused by input (a file, a record, an option), as opposed to bugs. Every message
names the file and the field or line, or the option. The CLI catches `AgentloadError` only
(prints it as one line, exits with the error's `exit_code`), so a real bug still shows its
traceback.

AgentloadError            base: anything the CLI prints as one line; exit 2
├── FormatError           a file or record does not match its schema
│   ├── WrongKindError    an agentload file of another kind than expected
│   ├── VersionError      an unknown major version
│   └── CorruptFileError  not Arrow, or no complete batch could be read
├── ConfigError           an invalid option combination or value
├── ThresholdError        the run finished but breached a threshold the user set
│                         (--max-error-rate, --strict-lengths, compare --fail-on); exit 1
└── UnfaithfulRunError    the run could not measure what was asked (preflight failed,
                          nothing succeeded, engine down); exit 3

Exit codes of every command (docs/exit-codes.md is the user-facing table; keep both equal):
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_THRESHOLD = 1  # a threshold the user set was breached
EXIT_BAD_INPUT = 2  # bad input or configuration (also click's usage errors)
EXIT_UNFAITHFUL = 3  # the run could not be faithful: preflight failed, nothing succeeded
EXIT_INTERRUPTED = 130  # SIGINT/SIGTERM (128 + SIGINT, as shells report it)


class AgentloadError(Exception):
    """Base of every error caused by input rather than by a bug."""

    exit_code: int = EXIT_BAD_INPUT


class FormatError(AgentloadError):
    """A file or record does not match the expected format."""


class WrongKindError(FormatError):
    pass


class VersionError(FormatError):
    pass


class CorruptFileError(FormatError):
    pass


class ConfigError(AgentloadError):
    pass


class ThresholdError(AgentloadError):
    """A finished run (or comparison) breached a threshold the user asked to enforce."""

    exit_code = EXIT_THRESHOLD


class UnfaithfulRunError(AgentloadError):
    """The run could not measure what was asked: the target is down, refuses the model,
    fails the preflight, or no request succeeded. Any result file written is kept."""

    exit_code = EXIT_UNFAITHFUL
