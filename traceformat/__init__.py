"""File formats shared by capture, profiles and replay: schemas, writers, readers."""

from agentload.traceformat.schema import VERSION, Api, ErrorKind, Kind

__all__ = ["VERSION", "Api", "ErrorKind", "Kind"]
