"""The Slack gateway: what every other part needs to talk to Slack, and nothing of the relay or the services.

* `bot.slack.errors.slack_error(exc)`: the error code of a failed Slack call (the one reader);
* `bot.slack.pacing`: calls paced per channel and paused after a 429, shared by every process
  (`SlackIO` over `bot.store.pacing.PaceStore`, and the three outcomes `RetryLater`, `SlackRefused`,
  `ChannelUnavailable`);
* `bot.slack.channels`: one channel per case (create or reuse, invite, topic, archive), its mapping kept
  by `bot.store.channels.ChannelStore`;
* `bot.slack.sharing`: whether a channel is shared with another organisation (Slack Connect), cached.

It imports `bot.store` and `blocks` only; `bot.relay`, `bot.services` and `bot.listeners` import it.
"""
