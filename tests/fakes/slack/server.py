"""The fake Slack server: Web API at /api/<method>, upload URLs, response_urls, Socket Mode.

    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
        await client.chat_postMessage(channel=..., text="hi")
        slack.journal.messages(channel_id)

Requests are parsed as Slack parses them (query string, form body or JSON body; token from
`Authorization: Bearer` or a `token` form field; JSON bodies need the header). Answers are
`{"ok": true, ...}` or `{"ok": false, "error": <Slack's code>}`; 429 with Retry-After for rate limits.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from tests.fakes.slack import response_urls, scopes
from tests.fakes.slack.api import REGISTRY, Args, Context, load_all
from tests.fakes.slack.clock import FakeClock
from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.faults import Faults
from tests.fakes.slack.journal import Call, Journal, ResponsePost
from tests.fakes.slack.oauth import OAuthApp
from tests.fakes.slack.ratelimit import RateLimits
from tests.fakes.slack.socket_mode import SocketModeHub
from tests.fakes.slack.workspace import Workspace

load_all()

DEFAULT_BOT_TOKEN = "xoxb-0000000000-fake-caseroom-bot"
DEFAULT_APP_TOKEN = "xapp-1-A0CASEROOM-0000-fake-app-token"
DEFAULT_SIGNING_SECRET = "fake-signing-secret-0123456789abcdef"


class FakeSlack:
    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        app_token: str = DEFAULT_APP_TOKEN,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        rate_scale: float = 1.0,
        rate_limits: bool = True,
        scopes: Iterable[str] | None = None,
    ) -> None:
        """scopes: the bot token's granted scopes (None: all; see scopes.py)."""
        self.bot_token = bot_token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.granted_scopes: set[str] | None = set(scopes) if scopes is not None else None
        self.subscribed_events: set[str] | None = None
        """The app's `bot_events` (manifest names: message.groups...); None: every event is delivered."""
        self.clock = FakeClock()
        self.workspace = Workspace(self.clock, bot_token=bot_token, app_token=app_token)
        self.teams: dict[str, Workspace] = {self.workspace.TEAM_ID: self.workspace}
        """Every workspace of the fake, by team id (the first is `workspace`)."""
        self.oauth = OAuthApp(self)
        self.journal = Journal(self.workspace)
        self.faults = Faults()
        self.rate_limits = RateLimits(self.clock, scale=rate_scale, enabled=rate_limits)
        self.socket = SocketModeHub(self)
        self.port = 0
        self.internal_errors: list[str] = []
        """Tracebacks of bugs in the fake itself (answered as HTTP 500 `fake_slack_internal_error`);
        the `fake_slack` fixture fails the test when any occurred."""
        self._runner: web.AppRunner | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if not self.port:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.base_url + "api/"

    async def start(self, port: int = 0) -> FakeSlack:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files/{file_id}/{name}", self._download)
        app.router.add_post("/response/{team}/{token}", self._response_url)
        app.router.add_get("/link/", self.socket.handle)
        app.router.add_get("/oauth/v2/authorize", self.oauth.authorize)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = _bound_port(site)
        return self

    async def stop(self) -> None:
        await self.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- Web API ----------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        name = request.match_info["method"]
        raw: dict[str, Any] = {}
        try:
            raw, token = await _parse(request)
            if name == "oauth.v2.access":  # authenticated by the client id and secret, not a token
                answer = self.oauth.access(raw, request.headers.get("Authorization", ""))
            else:
                answer = await self._dispatch(name, raw, token)
            status, body, headers = 200, {"ok": True, **answer}, {}
        except SlackError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
        except Exception:  # a bug in the fake: answer, record, and let the fixture fail the test
            self.internal_errors.append(f"{name}: {traceback.format_exc()}")
            status, body, headers = 500, {"ok": False, "error": "fake_slack_internal_error"}, {}
        self.journal.record_call(Call(name, raw, status, body, self.clock.time()))
        if self.granted_scopes is not None:
            headers = {**headers, "x-oauth-scopes": ",".join(sorted(self.granted_scopes))}
        return web.json_response(body, status=status, headers=headers)

    async def _dispatch(self, name: str, raw: dict[str, Any], token: str | None) -> dict[str, Any]:
        spec = REGISTRY.get(name)
        if spec is None:
            raise SlackError("unknown_method", status=404)
        if not token:
            raise SlackError("not_authed")
        workspace = self.oauth.workspace_for(token)
        kind = "bot" if workspace is not None else "app" if token == self.app_token else None
        if kind is None:
            raise SlackError(self.oauth.token_error(token))
        if kind != spec.token:
            raise SlackError("not_allowed_token_type")
        if kind == "bot" and self.granted_scopes is not None:
            wanted = scopes.needed(name, raw, self.workspace)
            if wanted and not self.granted_scopes & set(wanted):
                provided = ",".join(sorted(self.granted_scopes))
                raise SlackError("missing_scope", extra={"needed": ",".join(wanted), "provided": provided})
        await self.faults.apply(name, raw)
        team = workspace.TEAM_ID if workspace is not None else ""
        retry_after = self.rate_limits.check(name, _channel_key(raw), team)
        if retry_after is not None:
            raise SlackError("ratelimited", status=429, headers={"Retry-After": str(retry_after)})
        return await spec.handler(Context(name, Args(raw), self, kind, workspace, token))

    def add_team(self, team_id: str, *, domain: str | None = None,
                 enterprise_id: str | None = None) -> Workspace:
        """Another workspace (not yet installing the app: see `oauth.approve` and /oauth/v2/authorize);
        `enterprise_id`: a workspace of that Enterprise Grid org."""
        if team_id in self.teams:
            raise ValueError(f"team {team_id} exists")
        # ids (users, channels, views) are unique across teams, as in Slack: one counter
        ws = Workspace(self.clock, bot_token="", app_token=self.app_token, team_id=team_id,
                       team_domain=domain, ids=self.workspace._ids, enterprise_id=enterprise_id)
        self.teams[team_id] = ws
        return ws

    # -- upload URL (files.getUploadURLExternal) --------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        file = self.workspace.files.get(request.match_info["file_id"])
        if file is None or file.content is not None:
            return web.Response(status=404, text="file_not_found")
        if request.content_type == "multipart/form-data":
            form = await request.post()
            part = next((v for v in form.values() if isinstance(v, web.FileField)), None)
            data = part.file.read() if part is not None else b""
            _close_files(form.values())
        else:
            data = await request.read()
        if len(data) != file.length:
            return web.Response(status=400, text=f"length_mismatch: declared {file.length}, got {len(data)}")
        file.content = data
        self.journal.notify()
        return web.Response(text=f"OK - {len(data)}")

    # -- url_private (files.info) -----------------------------------------------------------------

    async def _download(self, request: web.Request) -> web.Response:
        """GET a stored file's url_private: like Slack, only with the bot token as a Bearer header
        (and files:read when scopes are enforced); unknown or unfinished files are 404."""
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if not token:
            return web.Response(status=401, text="not_authed")
        owner = self.oauth.workspace_for(token)
        if owner is None:
            return web.Response(status=401, text="invalid_auth")
        if self.granted_scopes is not None and "files:read" not in self.granted_scopes:
            return web.Response(status=403, text="missing_scope: files:read")
        file = owner.files.get(request.match_info["file_id"])
        name = request.match_info["name"]
        if file is None or not file.completed or file.content is None or file.name != name:
            return web.Response(status=404, text="file_not_found")
        return web.Response(body=file.content, content_type="application/octet-stream")

    # -- response_url -----------------------------------------------------------------------------

    async def _response_url(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        url = f"{self.base_url}response/{request.match_info['team']}/{token}"
        team = self.teams.get(request.match_info["team"], self.workspace)
        record = team.response_urls.get(token)
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        outcome = response_urls.post(team, record, body)
        self.journal.record_response(
            ResponsePost(
                token=token,
                url=url,
                user_id=record.user_id if record else None,
                channel_id=record.channel_id if record else None,
                body=body if isinstance(body, dict) else {},
                status=outcome.status,
                error=outcome.error,
                at=self.clock.time(),
                message_ts=outcome.message_ts,
            )
        )
        return web.Response(status=outcome.status, text=outcome.error or "ok")


def _close_files(values: Iterable[object]) -> None:
    for value in values:
        if isinstance(value, web.FileField):
            value.file.close()


def _bound_port(site: web.TCPSite) -> int:
    server = site._server
    sockets = getattr(server, "sockets", None)
    if not sockets:
        raise RuntimeError("the fake Slack server did not bind a socket")
    return int(sockets[0].getsockname()[1])


async def _parse(request: web.Request) -> tuple[dict[str, Any], str | None]:
    """Merge query string and body the way Slack reads them; return (args, token)."""
    raw: dict[str, Any] = dict(request.query)
    header = request.headers.get("Authorization", "")
    token = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else None
    if request.method == "POST" and request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("json_not_object")
            raw.update(body)
            raw.pop("token", None)  # Slack ignores a token in a JSON body; keep it out of the journal
            return raw, token
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            raw.update({k: v for k, v in form.items() if isinstance(v, str)})
            _close_files(form.values())
        elif await request.read():
            raise SlackError("invalid_form_data")
    if token is None and isinstance(raw.get("token"), str):
        token = raw["token"]
    raw.pop("token", None)
    return raw, token


def _channel_key(raw: dict[str, Any]) -> str | None:
    channel = raw.get("channel")
    return channel if isinstance(channel, str) else None
