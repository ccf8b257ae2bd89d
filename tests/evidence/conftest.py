"""The canary's bot driver (signed Slack requests against the Kubernetes API emulator), reused here."""

from tests.canary.conftest import driver_factory  # noqa: F401  (a fixture, found by name)
