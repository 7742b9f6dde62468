"""Every Redis key Caseroom uses is built here, under one versioned prefix.

Add a method per key (append; never build key strings elsewhere). Durable state has no TTL; caches,
dedupe markers and leases always do (the TTL lives next to the key, as a constant).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# TTLs (seconds) for non-durable keys, kept beside the key names they belong to.
USER_CACHE_TTL = 6 * 3600
SLACK_EVENT_DEDUPE_TTL = 2 * 3600
WEBHOOK_EVENT_DEDUPE_TTL = 7 * 24 * 3600
IDEMPOTENCY_TTL = 24 * 3600
SLACK_TEAM_TTL = 24 * 3600
USERGROUP_CACHE_TTL = 5 * 60
AUDIT_STREAM_MAXLEN = 100_000
RELAY_SNAPSHOT_TTL = 15 * 60
RELAY_DEAD_MAXLEN = 10_000
CHANNEL_SHARING_TTL = 15 * 60
NOTIFY_PERSON_TTL = 3600
NOTIFY_DIGEST_TTL = 3 * 24 * 3600
NOTIFY_DAILY_TTL = 9 * 24 * 3600
NOTIFY_REFUSED_TTL = 24 * 3600
ATTENTION_TEAM_TTL = 60
TEAM_LOAD_TTL = 60
DIGEST_RECORDS_TTL = 8 * 24 * 3600
"""The exactly-once records of one day's digests (`relayed("_digest:<day>")`): kept well past the day
(a digest held for quiet hours or a weekend is delivered within it), then gone, so they never pile up."""
OAUTH_STATE_TTL = 10 * 60
WORKSPACE_ID = re.compile(r"[TE][A-Z0-9]{2,20}")
"""A Slack team id (T...) or Enterprise Grid org id (E...): what may stand in a workspace's key prefix."""


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "caseroom:v1"

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # --- identity and audit (Slack surface) ---
    def debitura_users(self) -> str:
        """Hash email(lower) -> Debitura user JSON; refreshed from GET /users."""
        return self._k("debitura", "users")

    def slack_user(self, slack_user_id: str) -> str:
        """Cached Slack user profile (email, team, guest flags)."""
        return self._k("slack", "user", slack_user_id)

    def audit_stream(self) -> str:
        """Stream of every successful write made from Slack."""
        return self._k("audit")

    def slack_event_seen(self, event_id: str) -> str:
        return self._k("slack", "event", event_id)

    def write_outcome(self, idempotency_key: str) -> str:
        """Result of a write started from a modal, keyed by its derived idempotency key."""
        return self._k("write", idempotency_key)

    # --- rate budget (shared by every process) ---
    def rate_window(self, window: str, bucket: str) -> str:
        return self._k("rate", window, bucket)

    def rate_pause(self) -> str:
        """Unix ms until which no process may call Debitura (set after a 429); has a PX TTL."""
        return self._k("rate", "pause")

    # --- relay (cases, channels, cursors, schedules, leases) ---
    def case_channel(self, case_id: str) -> str:
        """Hash: channel id, name, archived flag, for one case."""
        return self._k("case", case_id, "channel")

    def channel_case(self, channel_id: str) -> str:
        """Reverse map: Slack channel id -> case id."""
        return self._k("channel", channel_id, "case")

    def case_state(self, case_id: str) -> str:
        """Hash: last known lifecycle, phase, dateUpdated, baseline flag, topic."""
        return self._k("case", case_id, "state")

    def relayed(self, case_id: str) -> str:
        """Hash: relayed item id -> "<channel>|<ts>|<version>"."""
        return self._k("case", case_id, "relayed")

    def followed(self) -> str:
        """Set of case ids someone followed."""
        return self._k("relay", "followed")

    def schedule(self) -> str:
        """Sorted set: case id scored by next check time (unix seconds)."""
        return self._k("relay", "schedule")

    def lease(self, name: str) -> str:
        return self._k("lease", name)

    def webhook_seen(self, event_id: str) -> str:
        return self._k("webhook", "seen", event_id)

    def heartbeat(self, process_id: str) -> str:
        return self._k("process", process_id, "heartbeat")

    # --- identity caches (Slack surface, appended) ---
    def slack_bot_team(self) -> str:
        """The bot's own Slack team id (from auth.test); users of other teams are refused."""
        return self._k("slack", "bot_team")

    def slack_usergroup_members(self, group_id: str) -> str:
        """Cached member ids of a Slack user group (CASEROOM_ADMIN_GROUP), JSON list."""
        return self._k("slack", "usergroup", group_id)

    # --- relay internals (appended by the relay) ---
    def relay_seen(self, case_id: str) -> str:
        """Hash: short dedupe field per chat/timeline item/payment ever accounted for (durable)."""
        return self._k("case", case_id, "seen")

    def relay_snapshot(self, case_id: str) -> str:
        """The case as the last sweep listed it (JSON), so a fetch need not GET it again; TTL."""
        return self._k("case", case_id, "snapshot")

    def relay_outbox(self, lane: str) -> str:
        """List: deliveries waiting for one lane (a case id, or "feed"), oldest first (durable)."""
        return self._k("relay", "outbox", lane)

    def relay_ready(self) -> str:
        """Sorted set: lane scored by the time its outbox may next be worked (429 backoff included)."""
        return self._k("relay", "ready")

    def relay_dead(self) -> str:
        """List of deliveries Slack refused for good (bad request), kept for an operator; capped."""
        return self._k("relay", "dead")

    def relay_sweep(self) -> str:
        """Hash: sweep watermark (newest dateUpdated seen), last incremental and full sweep times."""
        return self._k("relay", "sweep")

    def relay_poll_pace(self) -> str:
        """Hash: token bucket ("t" tokens, "ts" last refill) pacing scheduled polls to the plan's rate."""
        return self._k("relay", "pollpace")

    def relay_extra(self) -> str:
        """Hash: slot (1/24 of a day) -> Debitura requests the relay made outside its polling plan."""
        return self._k("relay", "extra")

    def relay_activity(self) -> str:
        """Sorted set: case id scored by its last relayed activity (trimmed to the last day)."""
        return self._k("relay", "activity")

    def relay_processes(self) -> str:
        """Sorted set: relay process id scored by its last heartbeat (unix seconds)."""
        return self._k("relay", "processes")

    def slack_pace(self, channel_id: str) -> str:
        """Unix ms before which nothing more is posted to the channel (~1 message a second); PX TTL."""
        return self._k("slack", "pace", channel_id)

    def slack_pause(self, scope: str) -> str:
        """Unix ms until which a Slack method (or a channel) is paused after a 429; PX TTL."""
        return self._k("slack", "pause", scope)

    def channel_by_name(self, name: str) -> str:
        """Channel id of a case channel Caseroom created under this name (durable)."""
        return self._k("channel", "name", name)

    def unfollowed(self) -> str:
        """Set of case ids someone stopped relaying (`/case unfollow`); `/case follow` removes the id."""
        return self._k("relay", "unfollowed")

    # --- Debitura listings (appended by the listing caps) ---
    def listing_truncated(self) -> str:
        """Hash: listing (cases, users, relay_sweep, relay_full_sweep) -> JSON {reason, pages, at} of its
        last run, when Debitura's paging made it stop early; the field goes when one ends normally (durable,
        at most four small fields). Read by `caseroom check`."""
        return self._k("debitura", "listing_truncated")

    def slack_channel_sharing(self, channel_id: str) -> str:
        """"internal" or "external": whether a channel is shared with another organisation; TTL."""
        return self._k("slack", "sharing", channel_id)

    # --- webhook reconciliation (appended by the proof issue) ---
    def webhook_cursor(self) -> str:
        """Hash: webhook subscription id -> unix seconds up to which its delivery log (GET /webhooks/events)
        has been reconciled (durable)."""
        return self._k("webhook", "cursor")

    def webhook_subscriptions(self) -> str:
        """Hash: webhook subscription id -> JSON of its state as the relay last read it (url, active,
        disabled reason, since when it is inactive); read by `caseroom check` (durable, one field per
        subscription)."""
        return self._k("webhook", "subscriptions")

    def webhook_reconcile(self) -> str:
        """Hash: the figures of the last reconciliation run (when, window, cases, events, requests)."""
        return self._k("webhook", "reconcile")

    # --- caseroom smoke (appended by the proof issue) ---
    def smoke_runs(self) -> str:
        """Hash: smoke run id -> JSON {tag, marker, case_id, started} of each `caseroom smoke` run not yet
        cleaned up (a run killed half way is cleaned up by the next one; durable, a field per run)."""
        return self._k("smoke", "runs")

    # --- attention (issue 13: App Home, direct messages, reminders, digests; appended) ---
    def attention_owner(self, email: str) -> str:
        """Set of case ids whose stored assignee is `email` (lower case; "-" for unassigned). A superset:
        readers drop members whose stored case names another assignee (durable)."""
        return self._k("att", "owner", email or "-")

    def attention_owners(self) -> str:
        """Set of every assignee email with an `attention_owner` set ("-" for unassigned) (durable)."""
        return self._k("att", "owners")

    def attention_prefs(self) -> str:
        """Hash: Slack user id -> JSON of the notification preferences the person changed (durable)."""
        return self._k("att", "prefs")

    def attention_mutes(self, user_id: str) -> str:
        """Set of case ids a Slack user muted (`/case mute`, the Home's Mute button) (durable)."""
        return self._k("att", "mutes", user_id)

    def attention_accounts(self) -> str:
        """Hash: assignee email (lower) -> "<Slack user id>|<unix s checked>", id empty when Slack has no
        such account. Refreshed by whoever looks one up (users.lookupByEmail, a person's own profile)."""
        return self._k("att", "accounts")

    def attention_team(self) -> str:
        """The admins' team view (counts per assignee and section), JSON, kept ATTENTION_TEAM_TTL."""
        return self._k("att", "team")

    def attention_home_opened(self) -> str:
        """Unix seconds of the last `app_home_opened` event (durable; `caseroom check` reads it)."""
        return self._k("att", "home_opened")
    # --- many workspaces on one deployment (appended by tenancy, issue 16) ---
    def for_workspace(self, workspace_id: str) -> Keys:
        """Every key of one workspace: `<prefix>:{<workspace id>}:...`. The braces are a Redis Cluster
        hash tag: a workspace's keys share one slot (each Lua script and transaction over them stays in
        one node) and workspaces spread across the cluster. Every other key method on the result is that
        workspace's, so stores and the relay built over it are scoped without knowing it."""
        if not WORKSPACE_ID.fullmatch(workspace_id):
            raise ValueError("not a Slack team or enterprise id")
        return Keys(f"{self.prefix}:{{{workspace_id}}}")

    def hash_tagged(self) -> Keys:
        """The single-workspace keys on a Redis Cluster: the whole prefix as one hash tag."""
        return self if "{" in self.prefix else Keys(f"{{{self.prefix}}}")

    def workspace_pattern(self) -> str:
        """SCAN pattern matching every key of the workspace these keys belong to (uninstall)."""
        escaped = self.prefix
        for special in ("[", "]", "*", "?"):
            escaped = escaped.replace(special, "\\" + special)
        return escaped + ":*"

    def slack_installation(self) -> str:
        """A workspace's Slack installation (bot token, refresh token, scopes, installer), JSON encrypted
        with CASEROOM_SECRET_KEY (durable; deleted on app_uninstalled / tokens_revoked)."""
        return self._k("slack", "installation")

    def workspace_config(self) -> str:
        """Hash: a workspace's Debitura settings from App Home (API key and webhook secret encrypted,
        admins, relay lifecycles, key status) (durable)."""
        return self._k("workspace", "config")

    def workspaces(self) -> str:
        """Set (base keys, not a workspace's): the ids of the installed workspaces."""
        return self._k("workspaces")

    def oauth_state(self, state: str) -> str:
        """An OAuth install state issued by /slack/install, consumed once by /slack/oauth_redirect; TTL."""
        return self._k("oauth", "state", state)

    # --- direct messages, reminders and digests (appended by issue 13, part B; bot/store/notify.py) ---
    def notify_person(self, email: str) -> str:
        """A Debitura email's Slack DM target (user id, time zone, or why no DM may go), JSON; TTL."""
        return self._k("notify", "person", email.strip().lower())

    def notify_reminders(self, case_id: str) -> str:
        """Hash: reminder fired for the case (`<kind>:<threshold>:<anchor>` -> unix s); its fields go when
        the condition clears (durable while it holds)."""
        return self._k("case", case_id, "reminders")

    def notify_digest(self, who: str, day: str) -> str:
        """Marker: the digest of `who` (a Slack user id, or `team`) for local day `day` went out; TTL."""
        return self._k("notify", "digest", who, day)

    def notify_daily(self, day: str) -> str:
        """Hash: the team's counts of one UTC day for the admins' digest (`pay:<cur>`, `close:<code>`,
        `new`); TTL."""
        return self._k("notify", "daily", day)

    def notify_reminded(self) -> str:
        """Set of case ids with fired reminders (`notify_reminders` not empty): the pass reads only those."""
        return self._k("notify", "reminded")

    def notify_refused(self, email: str) -> str:
        """Marker: Slack refused a DM to this person (its error); no DM is tried until it expires; TTL."""
        return self._k("notify", "refused", email.strip().lower())

    def debitura_users_loading(self) -> str:
        """Marker: a process is loading the Debitura team list (`GET /users`) for App Home; TTL."""
        return self._k("debitura", "users", "loading")

    # --- cross-process wake-ups (issue 16 follow-up; bot/relay/wakeup.py) ---
    def relay_wake(self) -> str:
        """Pub/sub channel, not a key: the door publishes on it when it queued a fetch, relay processes
        subscribe. Named like the workspace's keys, so on a cluster it is a sharded channel of their slot."""
        return self._k("relay", "wake")
