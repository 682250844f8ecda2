"""agentload simengine package (see ARCHITECTURE.md)."""
