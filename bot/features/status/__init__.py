"""`/bizra status`: which replica leads, which replicas were seen, and the store they share."""
