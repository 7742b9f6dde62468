"""Socket Mode on the fake: apps.connections.open hands out a single-use ws:// URL; the fake says
`hello`, delivers envelopes, records acks (with their payloads), redelivers unacked Events API
envelopes with `retry_attempt`/`retry_reason`, and can send `disconnect`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.fakes.slack.server import FakeSlack

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]


class NotConnected(RuntimeError):
    """No Socket Mode connection is open to deliver to."""


@dataclass
class Delivery:
    envelope_id: str
    type: EnvelopeType
    payload: dict[str, Any]
    retry_attempt: int
    retry_reason: str | None
    sent_at: float
    ack: asyncio.Future[dict[str, Any] | None]
    acked_at: float | None = None

    @property
    def acked(self) -> bool:
        return self.ack.done()


@dataclass
class SocketModeHub:
    fake: FakeSlack
    connections: list[web.WebSocketResponse] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    connects: int = 0
    _frozen: set[int] = field(default_factory=set)
    _tickets: set[str] = field(default_factory=set)
    _pending: dict[str, Delivery] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _next: int = 0

    def issue_url(self) -> str:
        ticket = secrets.token_urlsafe(16)
        self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.fake.port}/link/?ticket={ticket}&app_id={self.fake.workspace.APP_ID}"

    async def wait_connected(self, timeout: float = 10.0, *, count: int = 1) -> None:
        """Until a connection is open and at least `count` connections were made in all
        (count=2 after a disconnect: the client has reconnected)."""
        await self.fake.journal.wait_for(
            lambda: self.connected and self.connects >= count,
            timeout,
            what=f"Socket Mode connection #{count}",
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.Response(status=401, text="invalid or used ticket; call apps.connections.open")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=False)  # pongs are ours to answer (or not, when frozen)
        await ws.prepare(request)
        self.connections.append(ws)
        self.connects += 1
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": sum(1 for c in self.connections if not c.closed),
                "debug_info": {
                    "host": "applink-fake",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.fake.workspace.APP_ID},
            }
        )
        self.fake.journal.notify()
        try:
            async for message in ws:
                if id(ws) in self._frozen:
                    continue  # a silently dead link: nothing gets through, pings go unanswered
                if message.type == WSMsgType.TEXT:
                    self._on_text(message.data)
                elif message.type == WSMsgType.PING:
                    await ws.pong(message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            if ws in self.connections:
                self.connections.remove(ws)
            self._frozen.discard(id(ws))
            self.fake.journal.notify()
        return ws

    def _on_text(self, data: str) -> None:
        try:
            body = json.loads(data)
        except ValueError:
            return
        if not isinstance(body, dict) or "envelope_id" not in body:
            return
        delivery = self._pending.pop(str(body["envelope_id"]), None)
        if delivery is None or delivery.ack.done():
            return
        payload = body.get("payload")
        delivery.acked_at = self.fake.clock.time()
        delivery.ack.set_result(payload if isinstance(payload, dict) else None)
        self.fake.journal.notify()

    def freeze(self) -> int:
        """Make every open connection silently dead: it stays open but answers no ping, and
        envelopes are no longer delivered to it (the failure PLATFORM.md §4 warns about). New
        connections work. Returns how many connections froze."""
        frozen = [ws for ws in self.connections if not ws.closed and id(ws) not in self._frozen]
        self._frozen.update(id(ws) for ws in frozen)
        return len(frozen)

    @property
    def connected(self) -> bool:
        return any(not ws.closed and id(ws) not in self._frozen for ws in self.connections)

    def _pick(self) -> web.WebSocketResponse:
        open_ = [ws for ws in self.connections if not ws.closed and id(ws) not in self._frozen]
        if not open_:
            raise NotConnected("no Socket Mode connection is open")
        self._next += 1
        return open_[self._next % len(open_)]

    async def send(
        self,
        type_: EnvelopeType,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str | None = None,
    ) -> Delivery:
        """Deliver one envelope to one open connection (Slack never broadcasts)."""
        ws = self._pick()
        delivery = Delivery(
            envelope_id=str(uuid.uuid4()),
            type=type_,
            payload=payload,
            retry_attempt=retry_attempt,
            retry_reason=retry_reason,
            sent_at=self.fake.clock.time(),
            ack=asyncio.get_running_loop().create_future(),
        )
        self._pending[delivery.envelope_id] = delivery
        self.deliveries.append(delivery)
        await ws.send_json(
            {
                "envelope_id": delivery.envelope_id,
                "type": type_,
                "payload": payload,
                "accepts_response_payload": type_ != "events_api",
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason or "",
            }
        )
        return delivery

    def deliver_event(
        self,
        payload: dict[str, Any],
        *,
        ack_timeout: float = 3.0,
        retry_delays: Sequence[float] = (0.0, 60.0, 300.0),
    ) -> asyncio.Task[list[Delivery]]:
        """Deliver an Events API envelope; while unacked after `ack_timeout`, redeliver after each
        of `retry_delays` with retry_attempt 1, 2, 3 and retry_reason "timeout" (Slack: up to 3 retries)."""

        async def run() -> list[Delivery]:
            attempts: list[Delivery] = []
            for attempt in range(len(retry_delays) + 1):
                if attempt:
                    await asyncio.sleep(retry_delays[attempt - 1])
                delivery = await self.send(
                    "events_api", payload, retry_attempt=attempt, retry_reason="timeout" if attempt else None
                )
                attempts.append(delivery)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(delivery.ack), ack_timeout)
                    return attempts
            return attempts

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def disconnect(self, reason: str = "refresh_requested", *, close: bool = False) -> None:
        """Send Slack's `disconnect` message to every connection (`close=True` also closes them)."""
        for ws in list(self.connections):
            if ws.closed:
                continue
            await ws.send_json(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
            )
            if close:
                await ws.close()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for ws in list(self.connections):
            await ws.close()
        for delivery in self._pending.values():
            if not delivery.ack.done():
                delivery.ack.cancel()
        self._pending.clear()
