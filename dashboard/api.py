"""The dashboard's small JSON API (``/api/shadow/...``) and its static page (``/dashboard``).

Embedded mode: the technician is chosen from a list and sent with each request (header
``X-Omega-Technician`` or a JSON field) for the default tenant (``?tenant=`` picks another); the
HTTP port listens on 127.0.0.1 only. Production puts this behind the gateway's token auth
(docs/dashboard.md): the API itself never decides who the caller is beyond that.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from federation.errors import InvalidArgument, OmegaError
from federation.tenancy import validate_tenant
from federation.tickets.convert import STATE_TO_PROTO
from teams.shadow.convert import proposal_to_json
from teams.shadow.service import UNASSIGNED, QueueItem, ShadowService

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
Handler = Callable[[Request], Awaitable[Response]]


def _errors(fn: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except OmegaError as exc:
            return JSONResponse({"error": {"reason": exc.reason, "message": exc.message}}, status_code=exc.http_status)

    return wrapped


class DashboardApi:
    """Routes for the technicians' page; ``version`` moves on every change (the page polls it)."""

    def __init__(self, service: ShadowService) -> None:
        self._svc = service
        self.version = 0
        service.listeners.append(self._bump)

    def _bump(self, tenant: str) -> None:
        self.version += 1

    def routes(self) -> list[BaseRoute]:
        r = _errors
        return [
            Route("/dashboard", self.index, methods=["GET"]),
            Route("/dashboard/", self.index, methods=["GET"]),
            Mount("/dashboard/static", app=StaticFiles(directory=STATIC), name="dashboard-static"),
            Route("/api/shadow/session", r(self.session), methods=["GET"]),
            Route("/api/shadow/version", r(self.get_version), methods=["GET"]),
            Route("/api/shadow/queue", r(self.queue), methods=["GET"]),
            Route("/api/shadow/scorecard", r(self.scorecard), methods=["GET"]),
            Route("/api/shadow/tickets/{ticket_id}", r(self.ticket), methods=["GET"]),
            Route("/api/shadow/tickets/{ticket_id}/correct", r(self.correct), methods=["POST"]),
            Route("/api/shadow/tickets/{ticket_id}/resolve", r(self.resolve), methods=["POST"]),
            Route("/api/shadow/proposals/{proposal_id}/token", r(self.token), methods=["POST"]),
            Route("/api/shadow/proposals/{proposal_id}/confirm", r(self.confirm), methods=["POST"]),
            Route("/api/shadow/proposals/{proposal_id}/reject", r(self.reject), methods=["POST"]),
            Route("/api/shadow/proposals/{proposal_id}/revert", r(self.revert), methods=["POST"]),
        ]

    # ---- helpers -----------------------------------------------------------------------------
    def _tenant(self, request: Request) -> str:
        tenant = validate_tenant(request.query_params.get("tenant") or self._svc.tenants.default_tenant)
        self._svc.tenants.get(tenant)
        return tenant

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except ValueError:
            raise InvalidArgument("the body must be JSON", reason="BAD_JSON") from None
        if not isinstance(doc, dict):
            raise InvalidArgument("the body must be a JSON object", reason="BAD_JSON")
        return doc

    @staticmethod
    def _technician(request: Request, body: dict[str, Any] | None = None) -> str:
        return str((body or {}).get("technician") or request.headers.get("x-omega-technician")
                   or request.query_params.get("technician") or "")

    @staticmethod
    def _ticket_json(item_ticket: Any) -> dict[str, Any]:
        f, tri = item_ticket.fields, item_ticket.triage or {}

        def pred(name: str) -> dict[str, Any]:
            raw = tri.get(name)
            p: dict[str, Any] = raw if isinstance(raw, dict) else {}
            return {"label": p.get("label", ""), "confidence": p.get("confidence", 0.0),
                    "alternatives": p.get("alternatives", []), "method": p.get("method", ""),
                    "needs_review": p.get("needs_review", False)}

        return {
            "id": item_ticket.id, "source": item_ticket.source, "external_id": item_ticket.external_id,
            "number": f.get("external_number", ""), "title": f.get("title", ""), "company": f.get("company", ""),
            "state": item_ticket.state.value, "state_code": int(STATE_TO_PROTO[item_ticket.state]),
            "created_at": item_ticket.created_at,
            "triage": {
                "category": pred("category"), "priority": pred("priority"), "queue": pred("queue"),
                "technician": pred("technician"), "reasons": tri.get("reasons", []),
                "needs_review": tri.get("needs_review", False), "model_version": tri.get("model_version", ""),
                "corrected_by": tri.get("corrected_by", ""),
            },
        }

    def _item_json(self, item: QueueItem) -> dict[str, Any]:
        return {
            "ticket": self._ticket_json(item.ticket), "priority": item.priority, "sla_risk": item.sla_risk,
            "proposal": proposal_to_json(item.proposal) if item.proposal else None,
        }

    # ---- handlers ----------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        if request.url.path.endswith("/") and request.url.path != "/dashboard/":
            return RedirectResponse("/dashboard")
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def session(self, request: Request) -> Response:
        tenant = self._tenant(request)
        techs = set(self._svc.technicians(tenant))
        techs.update(p.technician for p in await self._svc.shadow.proposals(tenant, limit=2000))
        techs.discard(UNASSIGNED)
        modes = self._svc.writeback_modes(tenant)
        return JSONResponse({
            "tenant": tenant, "tenants": self._svc.tenants.names(),
            "technicians": [*sorted(techs), UNASSIGNED],
            "writeback": modes,
            "writeback_note": (
                "No PSA write-back is configured: changes are recorded locally, not sent to a PSA."
                if not modes else
                "PSA write-back: " + ", ".join(sorted(modes)) + "; tickets from other sources are recorded locally."
            ),
            "auth": "embedded: technician chosen from a list (see docs/dashboard.md)",
            "version": self.version,
        })

    async def get_version(self, request: Request) -> Response:
        return JSONResponse({"version": self.version})

    async def queue(self, request: Request) -> Response:
        tenant = self._tenant(request)
        tech = self._technician(request)
        if not tech:
            raise InvalidArgument("choose a technician", reason="MISSING_TECHNICIAN")
        items = await self._svc.my_queue(tenant, tech)
        return JSONResponse({"technician": tech, "items": [self._item_json(i) for i in items], "version": self.version})

    async def ticket(self, request: Request) -> Response:
        tenant = self._tenant(request)
        record, proposal = await self._svc.suggestions(tenant, request.path_params["ticket_id"], self._technician(request))
        audit = await self._svc.shadow.audit_log(tenant, ticket_id=record.id)
        return JSONResponse({
            "ticket": self._ticket_json(record),
            "proposal": proposal_to_json(proposal) if proposal else None,
            "audit": [{"actor": a.actor, "action": a.action, "at": a.at, "model_version": a.model_version,
                       "detail": a.detail} for a in audit],
            "writebacks": [{"target": w["target"], "status": w["status"], "attempts": w["attempts"]}
                           for w in await self._svc.shadow.writebacks(tenant, record.id)],
        })

    async def scorecard(self, request: Request) -> Response:
        return JSONResponse(await self._svc.scorecard(self._tenant(request)))

    async def token(self, request: Request) -> Response:
        body = await self._body(request)
        token, expires = await self._svc.issue_token(
            self._tenant(request), request.path_params["proposal_id"], self._technician(request, body))
        return JSONResponse({"token": token, "expires_at": expires})

    async def confirm(self, request: Request) -> Response:
        body = await self._body(request)
        p = await self._svc.confirm(self._tenant(request), request.path_params["proposal_id"],
                                    self._technician(request, body), str(body.get("token", "")))
        return JSONResponse(proposal_to_json(p))

    async def reject(self, request: Request) -> Response:
        body = await self._body(request)
        labels = {k: str(body.get(k, "")) for k in ("category", "priority", "queue")}
        p = await self._svc.reject(self._tenant(request), request.path_params["proposal_id"],
                                   self._technician(request, body), str(body.get("reason", "")), labels)
        return JSONResponse(proposal_to_json(p))

    async def revert(self, request: Request) -> Response:
        body = await self._body(request)
        p = await self._svc.revert(self._tenant(request), request.path_params["proposal_id"],
                                   self._technician(request, body))
        return JSONResponse(proposal_to_json(p))

    async def correct(self, request: Request) -> Response:
        body = await self._body(request)
        record = await self._svc.correct(
            self._tenant(request), request.path_params["ticket_id"], self._technician(request, body),
            category=str(body.get("category", "")), priority=str(body.get("priority", "")),
            queue=str(body.get("queue", "")),
        )
        return JSONResponse(self._ticket_json(record))

    async def resolve(self, request: Request) -> Response:
        body = await self._body(request)
        rid = await self._svc.resolve(self._tenant(request), request.path_params["ticket_id"],
                                      self._technician(request, body), str(body.get("resolution", "")))
        return JSONResponse({"resolution_id": rid})
