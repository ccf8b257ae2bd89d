"""The emergency rollback: confirmation, execution with the rollout followed, incident bundles."""
