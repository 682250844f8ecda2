"""Script entry for mitmdump: `mitmdump -s capture/addon_entry.py --set agentload_out=DIR ...`."""

from agentload.capture.addon import CaptureAddon

addons = [CaptureAddon()]
