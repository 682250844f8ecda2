"""The bottom layer, imported by every other: the exception hierarchy (`base.errors`),
deadline waits on one event loop (`base.pacer`), values never shown (`base.secret`),
signals held while a run starts (`base.held_signals`), process limits (`base.oslimits`) and
a bound TCP socket (`base.sockets`).
It imports nothing of ours. See docs/ARCHITECTURE.md."""
