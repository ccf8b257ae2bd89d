"""Roles and channel limits, enforced for every handler (refusals audited)."""
