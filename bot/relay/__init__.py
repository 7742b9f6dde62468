"""The relay: case events from Debitura into per-case Slack channels, exactly once, within budget.

Entry points are documented in full once the relay lands; `bot.relay.budget.RedisRateLimiter` is the
shared request budget used by `bot.runtime.build_limiter`.
"""
