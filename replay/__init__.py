"""agentload replay package (see ARCHITECTURE.md)."""
