"""The bottom layer, imported by every other: the exception hierarchy (`base.errors`),
deadline waits on one event loop (`base.pacer`) and values never shown (`base.secret`).
It imports nothing of ours. See docs/ARCHITECTURE.md."""
