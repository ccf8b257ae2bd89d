"""`/bizra gates`: the nine evidence gates, in Slack and the console (the CLI shares the renderer)."""
