"""Suite-wide pytest settings. Area fixtures live next to their tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings

# The machine has 2 cores; hypothesis' default deadline flakes under load without finding
# anything real, so examples are bounded by count instead.
settings.register_profile(
    "agentload", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=60
)
settings.load_profile("agentload")
