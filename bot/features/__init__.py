"""One folder per feature: its handlers, flow, store tables, settings, renderers, and `feature.py`."""
