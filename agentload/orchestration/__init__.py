"""Commands that orchestrate several packages (the demo, sweeps): the CLI layer."""
