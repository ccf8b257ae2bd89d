"""The App Home tab: the release now (canary, SLOs, open alerts, last releases) and the viewer's buttons."""
