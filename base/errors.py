"""The exception hierarchy of agentload, its one home: every layer imports it from here.

Errors caused by input (a file, a record, an option), as opposed to bugs. Every message
names the file and the field or line, or the option. The CLI catches `AgentloadError` only
(prints it as one line, exits 2), so a real bug still shows its traceback.

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
