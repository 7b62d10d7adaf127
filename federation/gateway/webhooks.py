"""PSA webhooks on HTTP: verify the signature over the raw bytes, then call IngestTicket.

``POST /webhooks/{vendor}`` (embedded default tenant) and ``/webhooks/{vendor}/{tenant}``.
A bad or missing signature → 401 and nothing is stored or enqueued; an unknown tenant → 404;
malformed JSON → 400 with the reason (the raw bytes are kept by ingest as a replayable dead
letter); a store outage → 503 so the PSA redelivers.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Mapping

import grpc
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors import signatures
from connectors.contract import Source
from federation.errors import OmegaError, Unauthenticated
from mesh.settings import TenantConfig, TenantDirectory
from sdk.client import OmegaClient

log = logging.getLogger(__name__)

VENDORS = {
    "autotask": Source.AUTOTASK,
    "connectwise": Source.CONNECTWISE,
    "kaseya-bms": Source.KASEYA_BMS,
    "datto-rmm": Source.DATTO_RMM,
}
MAX_BODY = 8 * 1024 * 1024

_GRPC_TO_HTTP = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
}


def _error(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"reason": reason, "message": message}}, status_code=status)


class WebhookReceiver:
    """Starlette endpoints for the PSA webhooks of every configured tenant."""

    def __init__(
        self, client: OmegaClient, tenants: TenantDirectory, http: httpx.AsyncClient | None = None
    ) -> None:
        self._client = client
        self._tenants = tenants
        self._http = http or httpx.AsyncClient(timeout=5.0, follow_redirects=False)
        self._cw_keys = signatures.SigningKeyCache()

    def routes(self) -> list[Route]:
        return [
            Route("/webhooks/{vendor}", self.receive, methods=["POST"]),
            Route("/webhooks/{vendor}/{tenant}", self.receive, methods=["POST"]),
        ]

    async def receive(self, request: Request) -> Response:
        vendor = request.path_params["vendor"]
        source = VENDORS.get(vendor)
        if source is None:
            return _error(404, "UNKNOWN_VENDOR", f"no webhook for {vendor!r}; use one of {sorted(VENDORS)}")
        tenant_name = request.path_params.get("tenant", self._tenants.default_tenant)
        try:
            tenant = self._tenants.get(tenant_name)
        except OmegaError as exc:
            return _error(404, exc.reason, exc.message)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return _error(413, "PAYLOAD_TOO_LARGE", f"body over {MAX_BODY} bytes")
        try:
            await self._verify(source, tenant, raw, request.headers, request.query_params.get("token"))
        except OmegaError as exc:
            log.warning("webhook signature refused vendor=%s tenant=%s reason=%s", vendor, tenant.name, exc.reason)
            # 401 for a bad or missing signature; 503 when the signing key server is down.
            return _error(401 if exc.http_status < 500 else exc.http_status, exc.reason, exc.message)
        try:
            result = await self._client.ingest_ticket(
                raw, source=source, tenant=tenant.name, received_via=f"webhook:{vendor}"
            )
        except grpc.aio.AioRpcError as err:
            status = _GRPC_TO_HTTP.get(err.code(), 502)
            return _error(status, err.code().name, err.details() or "ingest failed")
        if result.ignored_reason:
            return JSONResponse({"ignored": True, "reason": result.ignored_reason}, status_code=202)
        return JSONResponse(
            {"ticket_id": result.ticket_id, "duplicate": result.duplicate, "raw_payload_id": result.raw_payload_id},
            status_code=200 if result.duplicate else 202,
        )

    async def _verify(
        self,
        source: Source,
        tenant: TenantConfig,
        raw: bytes,
        headers: Mapping[str, str],
        token: str | None,
    ) -> None:
        if source is Source.AUTOTASK:
            if tenant.autotask_webhook_secret is None:
                raise Unauthenticated("no Autotask webhook secret is configured for this tenant", reason="NO_SECRET")
            signatures.verify_autotask(
                raw, headers.get("x-hook-signature"), tenant.autotask_webhook_secret.get_secret_value()
            )
        elif source is Source.CONNECTWISE:
            doc: Mapping[str, object] = {}
            if tenant.connectwise_signing_key is None:
                try:  # the key_url is read from the callback itself (allow-listed hosts only)
                    parsed = json.loads(raw)
                    doc = parsed if isinstance(parsed, dict) else {}
                except ValueError:
                    doc = {}
            await signatures.verify_connectwise_callback(
                raw,
                headers.get("x-content-signature"),
                doc,
                signing_key=(
                    tenant.connectwise_signing_key.get_secret_value()
                    if tenant.connectwise_signing_key is not None
                    else None
                ),
                client_id=tenant.connectwise_client_id,
                allowed_hosts=tenant.connectwise_key_hosts,
                http=self._http,
                cache=self._cw_keys,
            )
        elif source is Source.KASEYA_BMS:
            if tenant.kaseya_bms_webhook_secret is None:
                raise Unauthenticated("no Kaseya BMS webhook secret is configured for this tenant", reason="NO_SECRET")
            signatures.verify_kaseya_bms(raw, headers, tenant.kaseya_bms_webhook_secret.get_secret_value())
        elif source is Source.DATTO_RMM:
            expected = tenant.datto_rmm_webhook_token
            given = headers.get("x-omega-token") or token or ""
            if expected is None:
                raise Unauthenticated("no Datto RMM webhook token is configured for this tenant", reason="NO_SECRET")
            if not given or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
                raise Unauthenticated("missing or wrong Datto RMM webhook token", reason="BAD_TOKEN")

    async def aclose(self) -> None:
        await self._http.aclose()
