"""Pure Block Kit builders and form parsers: no network, no Redis, no Bolt."""
