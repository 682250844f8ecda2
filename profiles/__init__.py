"""agentload profiles package (see ARCHITECTURE.md)."""
