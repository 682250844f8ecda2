"""Exception hierarchy for bad input. Every message names the file and the field or line.

AgentloadError            base: anything the CLI prints as one line and exits 2
├── FormatError           a file or record does not match its schema
│   ├── WrongKindError    an agentload file of another kind than expected
│   ├── VersionError      an unknown major version
│   └── CorruptFileError  not Arrow, or no complete batch could be read
└── ConfigError           an invalid option combination or value
"""

from __future__ import annotations


class AgentloadError(Exception):
    """Base of every error caused by input rather than by a bug."""


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
