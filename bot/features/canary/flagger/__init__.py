"""The Flagger engine: bizra-bot as Flagger's gate (docs/canary.md, "Flagger engine").

Flagger runs the canary itself and asks the bot, through its webhooks on the bot's HTTP port,
whether it may go on; the bot answers from the same promotion policy and the same store as every
other engine, so `/bizra canary start|promote|abort` mean the same thing whichever engine runs.
"""
