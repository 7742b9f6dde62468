"""The fake's OAuth v2 install (docs: api.slack.com/authentication/oauth-v2) and bot token rotation.

    fake.oauth.approve(team_id, user_id)   # who clicks "Allow" on the authorize page
    GET /oauth/v2/authorize?client_id&scope&state&redirect_uri  -> 302 to redirect_uri?code=..&state=..
    POST /api/oauth.v2.access (client id and secret as HTTP Basic auth or form fields)
        grant_type=authorization_code (default): code (one use, 10 min), redirect_uri (the same as on
        the authorize request when one was given there)
        grant_type=refresh_token: refresh_token (token rotation on: `fake.oauth.token_rotation = True`)

Rules kept: an unknown client_id, a wrong secret, an unknown/used/expired code, a redirect_uri that
differs from the authorize request's or is not registered (when `redirect_uris` is set), no scope, an
unknown grant type, an unknown refresh token are refused with Slack's error codes. With rotation, bot
tokens are `xoxe.xoxb-...` and expire after `token_lifetime` fake seconds (`token_expired`); a
refresh returns a new access token and a new refresh token. `revoke(team_id)` makes the team's
tokens `token_revoked` (an uninstall).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from tests.fakes.slack.errors import SlackError
from tests.fakes.slack.workspace import Workspace

if TYPE_CHECKING:
    from tests.fakes.slack.server import FakeSlack

CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"
CODE_TTL = 600.0
TOKEN_LIFETIME = 12 * 3600.0


@dataclass
class Grant:
    code: str
    team_id: str
    user_id: str
    scopes: list[str]
    redirect_uri: str | None
    issued_at: float
    used: bool = False


@dataclass
class Token:
    team_id: str
    expires_at: float | None
    revoked: bool = False


class OAuthApp:
    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.client_id = CLIENT_ID
        self.client_secret = CLIENT_SECRET
        self.redirect_uris: list[str] = []
        """Registered redirect URLs (empty: any http(s) URL is accepted)."""
        self.token_rotation = False
        self.org_wide = False
        """The next install of a workspace of an Enterprise Grid org is org-wide (the admin chose the
        whole org): oauth.v2.access answers the org, no team, is_enterprise_install true."""
        self.token_lifetime = TOKEN_LIFETIME
        self.approver: tuple[str, str] | None = None
        self.denied = False
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, Token] = {fake.bot_token: Token(fake.workspace.TEAM_ID, None)}
        self.refresh_tokens: dict[str, str] = {}
        self.access_log: list[dict[str, Any]] = []
        """Every successful oauth.v2.access answer (tests look at issued tokens)."""

    # -- tokens -----------------------------------------------------------------------------------

    def workspace_for(self, token: str | None) -> Workspace | None:
        """The workspace a valid bot token belongs to (None: unknown, revoked or expired)."""
        info = self.tokens.get(token or "")
        if info is None or info.revoked:
            return None
        if info.expires_at is not None and self.fake.clock.time() >= info.expires_at:
            return None
        return self.fake.teams.get(info.team_id)

    def token_error(self, token: str | None) -> str:
        info = self.tokens.get(token or "")
        if info is None:
            return "invalid_auth"
        if info.revoked:
            return "token_revoked"
        return "token_expired"

    def approve(self, team_id: str, user_id: str) -> None:
        """The next authorize request is approved by `user_id` of `team_id`."""
        if team_id not in self.fake.teams:
            raise ValueError(f"unknown team {team_id}: add it with fake.add_team()")
        self.approver = (team_id, user_id)
        self.denied = False

    def revoke(self, team_id: str) -> None:
        for info in self.tokens.values():
            if info.team_id == team_id:
                info.revoked = True
        for refresh, team in list(self.refresh_tokens.items()):
            if team == team_id:
                del self.refresh_tokens[refresh]

    def issue_bot_token(self, team_id: str) -> str:
        """A bot token of `team_id` as if the app had been installed there (no authorize round trip)."""
        if team_id not in self.fake.teams:
            raise ValueError(f"unknown team {team_id}: add it with fake.add_team()")
        return str(self._issue(team_id)["access_token"])

    def _issue(self, team_id: str) -> dict[str, Any]:
        now = self.fake.clock.time()
        if self.token_rotation:
            token = f"xoxe.xoxb-1-{secrets.token_hex(12)}"
            refresh = f"xoxe-1-{secrets.token_hex(16)}"
            self.tokens[token] = Token(team_id, now + self.token_lifetime)
            self.refresh_tokens[refresh] = team_id
            return {"access_token": token, "refresh_token": refresh, "expires_in": int(self.token_lifetime)}
        token = f"xoxb-{secrets.token_hex(6)}-{secrets.token_hex(12)}"
        self.tokens[token] = Token(team_id, None)
        return {"access_token": token}

    # -- the authorize page -----------------------------------------------------------------------

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.client_id:
            return web.Response(status=400, text="invalid_client_id")
        scopes = [s for s in query.get("scope", "").split(",") if s]
        if not scopes:
            return web.Response(status=400, text="invalid_scope: no bot scope requested")
        redirect_uri = query.get("redirect_uri") or None
        target = redirect_uri or (self.redirect_uris[0] if self.redirect_uris else None)
        if target is None:
            return web.Response(status=400, text="bad_redirect_uri: none given and none registered")
        if not _http_url(target) or (self.redirect_uris and target not in self.redirect_uris):
            return web.Response(status=400, text="bad_redirect_uri")
        state = query.get("state", "")
        sep = "&" if urlsplit(target).query else "?"
        if self.denied or self.approver is None:
            return web.HTTPFound(f"{target}{sep}{urlencode({'error': 'access_denied', 'state': state})}")
        team_id, user_id = self.approver
        code = f"{secrets.token_hex(4)}.{secrets.token_hex(12)}"
        self.grants[code] = Grant(code, team_id, user_id, scopes, redirect_uri, self.fake.clock.time())
        return web.HTTPFound(f"{target}{sep}{urlencode({'code': code, 'state': state})}")

    # -- oauth.v2.access --------------------------------------------------------------------------

    def access(self, raw: dict[str, Any], authorization: str) -> dict[str, Any]:
        client_id, client_secret = _client(raw, authorization)
        if client_id != self.client_id:
            raise SlackError("invalid_client_id")
        if client_secret != self.client_secret:
            raise SlackError("bad_client_secret")
        grant_type = str(raw.get("grant_type") or "authorization_code")
        if grant_type == "refresh_token":
            return self._refresh(str(raw.get("refresh_token") or ""))
        if grant_type != "authorization_code":
            raise SlackError("invalid_grant_type")
        code = str(raw.get("code") or "")
        grant = self.grants.get(code)
        if grant is None or self.fake.clock.time() - grant.issued_at > CODE_TTL:
            raise SlackError("invalid_code")
        if grant.used:
            raise SlackError("code_already_used")
        given = raw.get("redirect_uri") or None
        if grant.redirect_uri is not None and given != grant.redirect_uri:
            raise SlackError("bad_redirect_uri")
        grant.used = True
        ws = self.fake.teams[grant.team_id]
        org_wide = self.org_wide and ws.ENTERPRISE_ID is not None
        answer: dict[str, Any] = {
            **self._issue(ws.TEAM_ID),
            "token_type": "bot",
            "scope": ",".join(grant.scopes),
            "bot_user_id": ws.BOT_USER_ID,
            "app_id": ws.APP_ID,
            "team": None if org_wide else {"id": ws.TEAM_ID, "name": ws.TEAM_DOMAIN},
            "enterprise": ({"id": ws.ENTERPRISE_ID, "name": ws.ENTERPRISE_ID.lower()}
                           if ws.ENTERPRISE_ID else None),
            "is_enterprise_install": org_wide,
            "authed_user": {"id": grant.user_id},
        }
        self.access_log.append(answer)
        return answer

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        if not self.token_rotation:
            raise SlackError("invalid_grant_type")
        team_id = self.refresh_tokens.pop(refresh_token, None)
        if team_id is None:
            raise SlackError("invalid_refresh_token")
        ws = self.fake.teams[team_id]
        answer: dict[str, Any] = {
            **self._issue(team_id),
            "token_type": "bot",
            "scope": "",
            "bot_user_id": ws.BOT_USER_ID,
            "app_id": ws.APP_ID,
            "team": {"id": ws.TEAM_ID, "name": ws.TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        self.access_log.append(answer)
        return answer


def _http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _client(raw: dict[str, Any], authorization: str) -> tuple[str, str]:
    """Client credentials from HTTP Basic auth (what slack_sdk sends) or the form fields."""
    if authorization.startswith("Basic "):
        try:
            decoded = base64.b64decode(authorization[len("Basic "):]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise SlackError("invalid_client_id") from None
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return str(raw.get("client_id") or ""), str(raw.get("client_secret") or "")
