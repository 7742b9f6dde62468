"""Slack-facing handlers, one module per surface area, each exposing `register(app, runtime)`.

Nothing is registered at import time: `bot.app.build_app` calls each module's `register` in order.
"""
