"""A small typed async client over the generated OMEGA stubs.

Every call has a deadline; UNAVAILABLE (and RESOURCE_EXHAUSTED) are retried with exponential
backoff and jitter, because ingest is idempotent on (tenant, source, external id, version) and the
read calls have no effects. Tenant and auth travel as metadata.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc
from omega.tickets.v1 import ticket_pb2, ticket_service_pb2, ticket_service_pb2_grpc

from connectors.contract import Source
from federation.interceptors import client_interceptors
from federation.tenancy import TECHNICIAN_METADATA_KEY, TENANT_METADATA_KEY

T = TypeVar("T")

SOURCE_TO_PROTO: dict[Source | None, int] = {
    None: ticket_pb2.SOURCE_SYSTEM_UNSPECIFIED,
    Source.AUTOTASK: ticket_pb2.SOURCE_SYSTEM_AUTOTASK,
    Source.CONNECTWISE: ticket_pb2.SOURCE_SYSTEM_CONNECTWISE,
    Source.KASEYA_BMS: ticket_pb2.SOURCE_SYSTEM_KASEYA_BMS,
    Source.DATTO_RMM: ticket_pb2.SOURCE_SYSTEM_DATTO_RMM,
    Source.GENERIC: ticket_pb2.SOURCE_SYSTEM_GENERIC,
}
PROTO_TO_SOURCE: dict[int, Source | None] = {v: k for k, v in SOURCE_TO_PROTO.items()}

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for transient failures: ``attempts`` in all, backoff doubling up to ``max_backoff_s``."""

    attempts: int = 5
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 5.0

    def backoff(self, attempt: int) -> float:
        base = min(self.max_backoff_s, self.initial_backoff_s * 2**attempt)
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class IngestResult:
    """What IngestTicket answered."""

    ticket_id: str
    duplicate: bool
    raw_payload_id: str
    source: Source | None
    ignored_reason: str = ""  # valid payload that is not about a ticket: stored, not queued


class OmegaClient:
    """Typed access to OMEGA's gRPC services. Use as ``async with OmegaClient(addr) as c``."""

    def __init__(
        self,
        target: str,
        *,
        tenant: str | None = None,
        technician: str | None = None,
        token: str | None = None,
        timeout_s: float = 10.0,
        retry: RetryPolicy | None = None,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self.target = target
        self.tenant = tenant
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self._owns_channel = channel is None
        self._channel = channel or grpc.aio.insecure_channel(
            target,
            interceptors=client_interceptors(),
            options=[
                ("grpc.max_receive_message_length", 16 * 1024 * 1024),
                ("grpc.max_send_message_length", 16 * 1024 * 1024),
            ],
        )
        md: list[tuple[str, str]] = []
        if tenant:
            md.append((TENANT_METADATA_KEY, tenant))
        if technician:
            md.append((TECHNICIAN_METADATA_KEY, technician))
        if token:
            md.append(("authorization", f"Bearer {token}"))
        self._metadata = tuple(md)
        self.ingest = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self.tickets = ticket_service_pb2_grpc.TicketServiceStub(self._channel)

    @property
    def channel(self) -> grpc.aio.Channel:
        return self._channel

    async def __aenter__(self) -> OmegaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_channel:
            await self._channel.close()

    async def wait_ready(self, timeout_s: float = 10.0) -> None:
        """Wait until the channel connects; raises ``TimeoutError`` when nothing answers."""
        await asyncio.wait_for(self._channel.channel_ready(), timeout_s)

    async def call(self, method: Callable[..., Awaitable[T]], request: Any, **kw: Any) -> T:
        """Call ``method`` with deadline, metadata and retries on transient statuses."""
        attempt = 0
        while True:
            try:
                return await method(
                    request, timeout=kw.get("timeout", self.timeout_s), metadata=self._metadata
                )
            except grpc.aio.AioRpcError as err:
                attempt += 1
                if err.code() not in RETRYABLE or attempt >= self.retry.attempts:
                    raise
                await asyncio.sleep(self.retry.backoff(attempt - 1))

    # ---- ingest ---------------------------------------------------------------------------
    async def ingest_ticket(
        self,
        payload: bytes,
        *,
        source: Source | None = None,
        tenant: str | None = None,
        received_via: str = "sdk",
    ) -> IngestResult:
        """Send one raw payload; the server stores it before answering. Idempotent."""
        req = ingest_pb2.IngestTicketRequest(
            tenant=tenant or "",
            source=SOURCE_TO_PROTO[source],  # type: ignore[arg-type]
            payload=payload,
            received_via=received_via,
        )
        resp = await self.call(self.ingest.IngestTicket, req)
        return _ingest_result(resp)

    async def batch_ingest(
        self,
        payloads: Sequence[bytes],
        *,
        source: Source | None = None,
        tenant: str | None = None,
        received_via: str = "sdk",
    ) -> list[IngestResult | grpc.StatusCode]:
        """Send many payloads in one call; each result is an IngestResult or the refusal code."""
        req = ingest_pb2.BatchIngestTicketsRequest(
            requests=[
                ingest_pb2.IngestTicketRequest(
                    tenant=tenant or "",
                    source=SOURCE_TO_PROTO[source],  # type: ignore[arg-type]
                    payload=p,
                    received_via=received_via,
                )
                for p in payloads
            ]
        )
        resp = await self.call(self.ingest.BatchIngestTickets, req)
        out: list[IngestResult | grpc.StatusCode] = []
        for r in resp.results:
            if r.error_code:
                out.append(_status_code(r.error_code))
            else:
                out.append(_ingest_result(r.response))
        return out

    async def list_dead_letters(
        self, *, tenant: str | None = None, page_size: int = 50, include_replayed: bool = False
    ) -> list[ingest_pb2.DeadLetter]:
        """Every dead letter of the tenant (follows pages)."""
        out: list[ingest_pb2.DeadLetter] = []
        token = ""
        while True:
            resp = await self.call(
                self.ingest.ListDeadLetters,
                ingest_pb2.ListDeadLettersRequest(
                    tenant=tenant or "",
                    page_size=page_size,
                    page_token=token,
                    include_replayed=include_replayed,
                ),
            )
            out.extend(resp.dead_letters)
            token = resp.next_page_token
            if not token:
                return out

    async def replay_dead_letter(
        self, dead_letter_id: str, *, tenant: str | None = None, source: Source | None = None
    ) -> str:
        resp = await self.call(
            self.ingest.ReplayDeadLetter,
            ingest_pb2.ReplayDeadLetterRequest(
                tenant=tenant or "",
                dead_letter_id=dead_letter_id,
                source=SOURCE_TO_PROTO[source],  # type: ignore[arg-type]
            ),
        )
        return str(resp.ticket_id)

    # ---- tickets --------------------------------------------------------------------------
    async def get_ticket(self, ticket_id: str, *, tenant: str | None = None) -> ticket_pb2.Ticket:
        resp = await self.call(
            self.tickets.GetTicket,
            ticket_service_pb2.GetTicketRequest(tenant=tenant or "", ticket_id=ticket_id),
        )
        return resp.ticket

    async def list_tickets(
        self,
        *,
        tenant: str | None = None,
        state: int = ticket_pb2.TICKET_STATE_UNSPECIFIED,
        page_size: int = 50,
        page_token: str = "",
    ) -> tuple[list[ticket_pb2.Ticket], str]:
        """One page of tickets, newest first, and the next page's token."""
        resp = await self.call(
            self.tickets.ListTickets,
            ticket_service_pb2.ListTicketsRequest(
                tenant=tenant or "", state=state, page_size=page_size, page_token=page_token  # type: ignore[arg-type]
            ),
        )
        return list(resp.tickets), resp.next_page_token

    # ---- triage (read-only: nothing is stored) ---------------------------------------------
    def _triage_stub(self) -> Any:
        from omega.triage.v1 import triage_pb2_grpc

        stub = self.__dict__.get("_triage")
        if stub is None:
            stub = self.__dict__["_triage"] = triage_pb2_grpc.TriageServiceStub(self._channel)
        return stub

    async def triage_ticket(
        self,
        *,
        title: str = "",
        description: str = "",
        payload: bytes = b"",
        source: Source | None = None,
        similar_count: int = 0,
    ) -> Any:
        """How OMEGA would triage this text or PSA payload (a TriageTicketResponse); no ticket is created."""
        from omega.triage.v1 import triage_pb2

        req = triage_pb2.TriageTicketRequest(
            title=title,
            description=description,
            payload=payload,
            source=SOURCE_TO_PROTO[source],  # type: ignore[arg-type]
            similar_count=similar_count,
        )
        return await self.call(self._triage_stub().TriageTicket, req)

    async def find_similar_tickets(
        self, *, ticket_id: str = "", text: str = "", page_size: int = 0
    ) -> list[ticket_pb2.SimilarTicket]:
        """The tenant's past tickets most like a stored ticket or a text, best first."""
        from omega.triage.v1 import triage_pb2

        req = triage_pb2.FindSimilarTicketsRequest(ticket_id=ticket_id, text=text, page_size=page_size)
        resp = await self.call(self._triage_stub().FindSimilarTickets, req)
        return list(resp.similar)

    async def list_categories(self) -> tuple[list[str], str]:
        """The categories the tenant's model knows, and the model version."""
        from omega.triage.v1 import triage_pb2

        resp = await self.call(self._triage_stub().ListCategories, triage_pb2.ListCategoriesRequest())
        return list(resp.categories), str(resp.model_version)

    # ---- the technician's shadow agent and actions ------------------------------------------
    def _shadow_stub(self) -> Any:
        from omega.shadow.v1 import shadow_pb2_grpc

        stub = self.__dict__.get("_shadow")
        if stub is None:
            stub = self.__dict__["_shadow"] = shadow_pb2_grpc.ShadowServiceStub(self._channel)
        return stub

    async def list_my_queue(self, *, page_size: int = 50) -> list[Any]:
        """The calling technician's open tickets (QueueItem: ticket, proposal, sla_risk)."""
        from omega.shadow.v1 import shadow_pb2

        resp = await self.call(
            self._shadow_stub().ListMyQueue, shadow_pb2.ListMyQueueRequest(page_size=page_size)
        )
        return list(resp.items)

    async def get_suggestions(self, ticket_id: str) -> Any:
        """What the shadow agent prepared for a ticket (GetSuggestionsResponse)."""
        from omega.shadow.v1 import shadow_pb2

        return await self.call(
            self._shadow_stub().GetSuggestions, shadow_pb2.GetSuggestionsRequest(ticket_id=ticket_id)
        )

    async def confirm_proposal(self, proposal_id: str, confirmation_token: str) -> ticket_pb2.Proposal:
        """Apply a proposal with the single-use token GetSuggestions issued to this technician."""
        resp = await self.call(
            self.tickets.ConfirmProposal,
            ticket_service_pb2.ConfirmProposalRequest(
                proposal_id=proposal_id, confirmation_token=confirmation_token
            ),
            timeout=max(self.timeout_s, 30.0),
        )
        return resp.proposal

    async def reject_proposal(self, proposal_id: str, *, reason: str = "") -> ticket_pb2.Proposal:
        resp = await self.call(
            self.tickets.RejectProposal,
            ticket_service_pb2.RejectProposalRequest(proposal_id=proposal_id, reason=reason),
        )
        return resp.proposal

    async def correct_triage(
        self, ticket_id: str, *, category: str = "", priority: str = "", queue: str = ""
    ) -> ticket_pb2.Ticket:
        resp = await self.call(
            self.tickets.CorrectTriage,
            ticket_service_pb2.CorrectTriageRequest(
                ticket_id=ticket_id, category=category, priority=priority, queue=queue
            ),
        )
        return resp.ticket

    async def resolve_ticket(self, ticket_id: str, *, resolution: str = "") -> ticket_pb2.Ticket:
        resp = await self.call(
            self.tickets.ResolveTicket,
            ticket_service_pb2.ResolveTicketRequest(ticket_id=ticket_id, resolution=resolution),
        )
        return resp.ticket

    async def list_proposals(
        self, *, technician: str = "", state: int = 0, page_size: int = 50
    ) -> list[ticket_pb2.Proposal]:
        """The tenant's proposals, newest first (optionally one technician's, one state)."""
        from omega.shadow.v1 import shadow_pb2

        resp = await self.call(
            self._shadow_stub().ListProposals,
            shadow_pb2.ListProposalsRequest(technician=technician, state=state, page_size=page_size),  # type: ignore[arg-type]
        )
        return list(resp.proposals)

    async def revert_proposal(self, proposal_id: str) -> ticket_pb2.Proposal:
        """Undo an applied proposal (the executor's undo); returns it REVERTED."""
        from omega.shadow.v1 import shadow_pb2

        resp = await self.call(
            self._shadow_stub().RevertProposal, shadow_pb2.RevertProposalRequest(proposal_id=proposal_id)
        )
        return resp.proposal

    async def get_scorecard(self, *, window_days: float = 30.0) -> Any:
        """The tenant's quality scorecard (GetScorecardResponse)."""
        from omega.shadow.v1 import shadow_pb2

        return await self.call(
            self._shadow_stub().GetScorecard, shadow_pb2.GetScorecardRequest(window_days=window_days)
        )

    async def list_runbooks(self) -> list[Any]:
        """The tenant's runbook catalogue (omega.shadow.v1.Runbook messages)."""
        from omega.shadow.v1 import shadow_pb2

        resp = await self.call(self._shadow_stub().ListRunbooks, shadow_pb2.ListRunbooksRequest())
        return list(resp.runbooks)


def _ingest_result(resp: ingest_pb2.IngestTicketResponse) -> IngestResult:
    return IngestResult(
        ticket_id=resp.ticket_id,
        duplicate=resp.duplicate,
        raw_payload_id=resp.raw_payload_id,
        source=PROTO_TO_SOURCE.get(resp.source),
        ignored_reason=resp.ignored_reason if resp.ignored else "",
    )


def _status_code(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
