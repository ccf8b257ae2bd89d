"""`/bizra verify`: the readiness checklist over read-only ports."""
