"""Prometheus metrics, one registry per process (no import-time global registry side effects).

`Metrics()` is built once by the runtime and passed to whoever records. Served at /metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
LAG_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600)
DOORS = ("slack", "webhook")
"""The public doors: POST /slack/events (HTTP mode) and POST /debitura/webhooks."""
REJECT_REASONS = ("signature", "stale", "too_large", "bad_body", "busy")
"""Why a door refused a request: bad or missing signature, timestamp out of the 5-minute window,
body over the cap, body that is not what the sender sends (signed but unparseable), the shared body
budget spent by other large bodies (503, retry)."""
LOOP_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter(
            "caseroom_commands_total", "Slash commands handled", ["subcommand", "outcome"], registry=r
        )
        self.actions = Counter(
            "caseroom_actions_total", "Block actions and view submissions handled", ["kind", "id", "outcome"],
            registry=r,
        )
        self.ack_latency = Histogram(
            "caseroom_ack_seconds", "Time from request arrival to ack", ["kind"], buckets=ACK_BUCKETS,
            registry=r,
        )
        self.relayed = Counter(
            "caseroom_relayed_events_total", "Events posted to Slack", ["kind"], registry=r
        )
        self.debitura_requests = Counter(
            "caseroom_debitura_requests_total", "Debitura API requests", ["operation", "status"], registry=r
        )
        self.budget_used = Gauge(
            "caseroom_budget_used", "Debitura requests counted in the current window", ["window", "pool"],
            registry=r,
        )
        self.budget_limit = Gauge(
            "caseroom_budget_limit", "Debitura request limit for the window", ["window", "pool"], registry=r
        )
        self.budget_waits = Counter(
            "caseroom_budget_waits_total",
            "Debitura requests held back (waited or refused) by the shared budget",
            ["window", "pool"], registry=r,
        )
        self.slack_ratelimited = Counter(
            "caseroom_slack_ratelimited_total", "Slack 429 answers", ["method"], registry=r
        )
        self.queue_depth = Gauge("caseroom_relay_queue_depth", "Relay deliveries waiting", registry=r)
        self.relay_lag = Histogram(
            "caseroom_relay_lag_seconds", "From event time to Slack post", ["path"], buckets=LAG_BUCKETS,
            registry=r,
        )
        self.poll_lateness = Histogram(
            "caseroom_relay_poll_lateness_seconds", "From a case's due time to the start of its poll",
            buckets=LAG_BUCKETS, registry=r,
        )
        self.staleness_bound = Gauge(
            "caseroom_relay_staleness_bound_seconds", "Staleness the relay can hold with its budget",
            registry=r,
        )
        self.cases_watched = Gauge("caseroom_relay_cases_watched", "Cases on the relay schedule", registry=r)
        self.relay_extra_requests = Gauge(
            "caseroom_relay_extra_requests_day",
            "Debitura requests the relay made outside its polling plan over the last day", registry=r,
        )
        self.webhooks = Counter(
            "caseroom_webhooks_total", "Debitura webhook deliveries", ["event", "outcome"], registry=r
        )
        self.rejected = Counter(
            "caseroom_requests_rejected_total",
            "Requests refused at a public door before any work, by door and reason", ["door", "reason"],
            registry=r,
        )
        for door in DOORS:  # every series exists from the start: a rejection never adds one
            for reason in REJECT_REASONS:
                self.rejected.labels(door=door, reason=reason)
        self.loop_lag = Histogram(
            "caseroom_event_loop_lag_seconds",
            "How much later than asked the event loop woke a 0.1 s sleep (time spent without yielding)",
            buckets=LOOP_LAG_BUCKETS, registry=r,
        )
        self.loop_lag_max = Gauge(
            "caseroom_event_loop_lag_max_seconds",
            "The longest event loop lag since the process started serving", registry=r,
        )
        self.listing_truncated = Counter(
            "caseroom_debitura_listing_truncated_total",
            "Debitura listings stopped before totalPages said they were done (a repeated page, or "
            "MAX_PAGES); listing is cases|users|relay_sweep|relay_full_sweep, reason max_pages|repeated_page",
            ["listing", "reason"], registry=r,
        )
        self.thread_messages = Counter(
            "caseroom_thread_messages_total",
            "Case channel messages handled: what is offer|send|edit|note, outcome is offered|sent|duplicate|"
            "refused|ignored|told|noted|failed|error",
            ["what", "outcome"], registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
