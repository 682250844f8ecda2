"""Replay across many machines on an existing Ray cluster (extra `agentload[ray]`).

`run_on_ray(config, address)` is the entry point; `ray` is imported only when it is called,
so the rest of replay works without the extra.
"""
