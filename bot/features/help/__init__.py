"""`/bizra help`: every subcommand, from the registry."""
