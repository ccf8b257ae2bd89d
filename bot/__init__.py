"""What the bot does with the world: config, Slack, console, CLI, scheduler, rendering, adapters."""
