"""Example bts strategy plugin: a Donchian channel breakout (DONCHIAN_BREAKOUT).

It imports the public strategy SDK (`bts_sdk`) and nothing else of bts. `spec` is what the registry
loads (the parameter model and the registration); `strategy` is the rule, imported when a run uses it.
"""
