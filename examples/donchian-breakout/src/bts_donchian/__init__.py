"""Example bts strategy plugin: a Donchian channel breakout (DONCHIAN_BREAKOUT).

`spec` is light (pydantic only) and is what the registry loads; `strategy` imports NautilusTrader and
is imported by the engine only.
"""
