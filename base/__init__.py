"""The bottom layer, imported by every other: the exception hierarchy (`base.errors`) and
deadline waits on one event loop (`base.pacer`). It imports nothing of ours. See
docs/ARCHITECTURE.md."""
