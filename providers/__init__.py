"""Provider wire formats, each described once: OpenAI Chat Completions, Completions and
Responses, Anthropic Messages. See docs/ARCHITECTURE.md."""

from agentload.providers.api import ENDPOINTS, Api, classify

__all__ = ["ENDPOINTS", "Api", "classify"]
