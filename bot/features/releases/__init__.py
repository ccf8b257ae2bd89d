"""Release history: which image became stable, how and when (read by rollback, written by canary and rollback)."""
