"""Slack OAuth v2 install for multi-workspace mode: Bolt's AsyncOAuthFlow over Redis stores.

`/slack/install` answers an "Add to Slack" page whose link carries a fresh `state` (kept in Redis,
also set as a cookie); `/slack/oauth_redirect` checks the state (once: GETDEL), exchanges the code
with oauth.v2.access and saves the installation (encrypted) in the workspace's keys. Requests are
authorized per workspace from that store, with bot token rotation (Bolt refreshes a token that
expires within two hours and saves it back; the registry sees the save). Bolt's auth.test of a token
is remembered (`AuthCache`): without it every request of a workspace called auth.test first, so a busy
workspace spent its auth.test budget (Slack counts per workspace) and, once answered 429, Bolt took
the token for invalid and refused that workspace's requests.

The scopes are manifest.yml's bot scopes (read from the repository's manifest when present, else
the list `caseroom check` requires).

Enterprise Grid: a workspace of an org installing Caseroom for itself is a workspace like any other,
keyed by its team id. An org-wide install (one token for every workspace of the org, no team) is
refused at the redirect with a page saying why (`ORG_WIDE_REFUSED`), its token is revoked
(auth.revoke) and nothing is stored: Caseroom's
tenant is a workspace (its Debitura key, admins and case channels), and channels made with an org
token would need the workspace named on every call.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackClientError
from slack_sdk.oauth.installation_store.models.installation import Installation

from bot.check import REQUIRED_SCOPES
from bot.config import Settings
from bot.tenancy import ROTATE_MINUTES_BEFORE, TenantRegistry, slack_oauth_client

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def manifest_scopes(path: Path = MANIFEST) -> list[str]:
    """manifest.yml's `oauth_config.scopes.bot`, or REQUIRED_SCOPES when the file is not there."""
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        scopes = data["oauth_config"]["scopes"]["bot"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return list(REQUIRED_SCOPES)
    return [str(s) for s in scopes]


def authorize_url(settings: Settings) -> str:
    """Slack's authorize page: SLACK_OAUTH_URL, or SLACK_API_URL's host with /oauth/v2/authorize."""
    if settings.slack_oauth_url is not None:
        return str(settings.slack_oauth_url)
    api = str(settings.slack_api_url)
    root = api[: -len("api/")] if api.endswith("api/") else api.rstrip("/") + "/"
    return f"{root}oauth/v2/authorize"


ORG_WIDE_REFUSED = (
    "Caseroom cannot be installed org-wide on an Enterprise Grid org: each workspace is its own Caseroom "
    "(its own Debitura key, admins and case channels). Ask an org admin to remove the org-wide install, "
    "then add Caseroom to each workspace that needs it from that workspace's \"Add to Slack\" page."
)


class OrgWideInstall(BoltError):
    """An Enterprise Grid org-wide install: refused (ORG_WIDE_REFUSED)."""


class CaseroomOAuthFlow(AsyncOAuthFlow):
    """Bolt's flow, refusing org-wide installs before anything is stored."""

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        if installation.is_enterprise_install:
            log.warning("org-wide install of Enterprise Grid org %s refused: Caseroom is installed per "
                        "workspace", installation.enterprise_id)
            await self._revoke(installation)
            raise OrgWideInstall(ORG_WIDE_REFUSED)
        await super().store_installation(request, installation)

    async def _revoke(self, installation: Installation) -> None:
        """The refused install's token is given back (auth.revoke): nothing holds a token Caseroom keeps
        no record of. A failure is logged; the install stays refused either way."""
        if not installation.bot_token:
            return
        try:
            await self.client.auth_revoke(token=installation.bot_token)
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            log.warning("could not revoke the refused org-wide install's token (%s); remove the app "
                        "from the org in Slack's admin pages", type(exc).__name__)


async def _installed(args: AsyncSuccessArgs) -> BoltResponse:
    return await args.default.success(args)


async def _not_installed(args: AsyncFailureArgs) -> BoltResponse:
    if isinstance(args.error, OrgWideInstall):
        page = ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Caseroom</title></head><body>"
                f"<h2>Not installed</h2><p>{html.escape(ORG_WIDE_REFUSED)}</p></body></html>")
        return BoltResponse(status=400, body=page, headers={"Content-Type": "text/html; charset=utf-8"})
    return await args.default.failure(args)


AUTH_CACHE_SIZE = 10_000
"""Tokens whose auth.test answer is remembered (two per workspace at most while one rotates)."""


class AuthCache(dict[str, Any]):
    """Bolt's `authorize_result_cache` (token -> AuthorizeResult), bounded: the oldest goes first, so
    tokens rotated away (every 12 hours with rotation) do not pile up in a long-running process."""

    def __init__(self, size: int = AUTH_CACHE_SIZE) -> None:
        super().__init__()
        self.size = size

    def __setitem__(self, token: str, result: Any) -> None:
        super().__setitem__(token, result)
        while len(self) > self.size:
            del self[next(iter(self))]


def build_oauth(
    settings: Settings, registry: TenantRegistry
) -> tuple[AsyncOAuthFlow, AsyncInstallationStoreAuthorize]:
    """The OAuth flow (install page and redirect) and the per-workspace authorize Bolt runs."""
    secret = settings.slack_client_secret
    if not settings.slack_client_id or secret is None:
        raise ValueError("SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are needed for the OAuth install")
    client_secret = secret.get_secret_value()
    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=client_secret,
        scopes=manifest_scopes(),
        user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorize_url(settings),
        installation_store=registry.installations,
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE,
        state_store=registry.states,
        state_validation_enabled=True,
        callback_options=AsyncCallbackOptions(success=_installed, failure=_not_installed),
        logger=log,
    )
    flow = CaseroomOAuthFlow(client=slack_oauth_client(settings), settings=oauth_settings, logger=log)
    authorize = AsyncInstallationStoreAuthorize(
        logger=log,
        installation_store=registry.installations,
        client_id=settings.slack_client_id,
        client_secret=client_secret,
        token_rotation_expiration_minutes=ROTATE_MINUTES_BEFORE,
        bot_only=True,
        client=slack_oauth_client(settings),
        cache_enabled=True,
    )
    authorize.authorize_result_cache = AuthCache()
    return flow, authorize
