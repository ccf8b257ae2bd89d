"""Adapters that implement the ports of `commands/`: Kubernetes, Prometheus, the pager."""
