"""agentload capture package (see ARCHITECTURE.md)."""
