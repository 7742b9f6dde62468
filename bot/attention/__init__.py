"""People's attention (issue 13): what needs whom, from the relay's stored state. Pure queue logic
(queue.py) shared by App Home (listeners/services), the relay's direct messages and reminders, and
digests. Imports only bot.store (snapshots, attention state), bot.config and bot.debitura.models."""
