"""`/bizra signoff`: the readiness checklist's sign-off as one living Slack message."""
