"""Script entry for mitmdump: `mitmdump -s capture/addon_entry.py --set agentload_out=DIR ...`."""

from capture.addon import CaptureAddon

addons = [CaptureAddon()]
