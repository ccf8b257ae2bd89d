"""The staged canary: `/bizra canary start|status|promote|abort` and auto-rollback.

handlers.py parses and authorizes; flow.py applies `commands.canary`'s decisions (claim, cluster,
record, thread); inputs.py turns the gates, the SLO history and the pods into evidence; store.py
holds the run and its history; autorollback.py is the breach listener; render.py the words and
blocks; settings.py the `canary:` section; feature.py registers it all.
"""
