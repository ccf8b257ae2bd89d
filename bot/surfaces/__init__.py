"""The surfaces on top: the Bolt app, the HTTP server, the console, the scheduler and the CLI."""
