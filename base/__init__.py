"""The bottom layer, imported by every other: the exception hierarchy (`base.errors`),
deadline waits on one event loop (`base.pacer`), values never shown (`base.secret`) and
signals held while a run starts (`base.held_signals`).
It imports nothing of ours. See docs/ARCHITECTURE.md."""
