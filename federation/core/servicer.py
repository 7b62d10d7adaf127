"""omega.federation.v1.FederationService: proto ↔ domain translation only."""

from __future__ import annotations

import grpc
from omega.federation.v1 import federation_pb2, federation_pb2_grpc

from federation.core.service import (
    Consideration,
    EndpointSource,
    FederationCore,
    ServiceEndpoint,
    Verdict,
)
from federation.errors import InvalidArgument
from federation.registry.servicer import AgentProtoCache, timestamp
from federation.tenancy import resolve_tenant

VERDICT_TO_PROTO: dict[Verdict, int] = {
    Verdict.CHOSEN: federation_pb2.CANDIDATE_VERDICT_CHOSEN,
    Verdict.RANKED_LOWER: federation_pb2.CANDIDATE_VERDICT_RANKED_LOWER,
    Verdict.LOST: federation_pb2.CANDIDATE_VERDICT_LOST,
    Verdict.EXCLUDED: federation_pb2.CANDIDATE_VERDICT_EXCLUDED,
    Verdict.NOT_READY: federation_pb2.CANDIDATE_VERDICT_NOT_READY,
    Verdict.NOT_AFFINE: federation_pb2.CANDIDATE_VERDICT_NOT_AFFINE,
}
SOURCE_TO_PROTO: dict[EndpointSource, int] = {
    EndpointSource.CONFIGURATION: federation_pb2.SERVICE_ENDPOINT_SOURCE_CONFIGURATION,
    EndpointSource.REGISTRATION: federation_pb2.SERVICE_ENDPOINT_SOURCE_REGISTRATION,
}
MAX_PAGE = 1000


def candidate_to_proto(c: Consideration) -> federation_pb2.Candidate:
    return federation_pb2.Candidate(
        agent_id=c.agent_id,
        agent_name=c.agent_name,
        verdict=VERDICT_TO_PROTO[c.verdict],
        load=c.load,
        affinity_score=c.affinity_score,
        note=c.note,
    )


def endpoint_to_proto(e: ServiceEndpoint) -> federation_pb2.ServiceEndpoint:
    msg = federation_pb2.ServiceEndpoint(
        service=e.service,
        address=e.address,
        source=SOURCE_TO_PROTO[e.source],
    )
    if e.expires_at is not None:
        msg.expire_time.CopyFrom(timestamp(e.expires_at))
    return msg


class FederationServicer(federation_pb2_grpc.FederationServiceServicer):  # type: ignore[misc]
    """Translates omega.federation.v1 calls to :class:`FederationCore`."""

    def __init__(self, core: FederationCore, default_tenant: str) -> None:
        self._core = core
        self._default_tenant = default_tenant
        self._agent_proto = AgentProtoCache()

    async def RouteTask(
        self, request: federation_pb2.RouteTaskRequest, context: grpc.aio.ServicerContext
    ) -> federation_pb2.RouteTaskResponse:
        decision = await self._core.route(
            resolve_tenant(request.tenant, self._default_tenant),
            request.capability,
            task_id=request.task_id,
            affinity_key=request.affinity_key,
            exclude=request.exclude_agent_ids,
        )
        return federation_pb2.RouteTaskResponse(
            agent=self._agent_proto(decision.agent),
            reason=decision.reason,
            candidates=[candidate_to_proto(c) for c in decision.candidates],
            attempts=decision.attempts,
            candidates_considered=decision.considered,
        )

    async def ResolveService(
        self, request: federation_pb2.ResolveServiceRequest, context: grpc.aio.ServicerContext
    ) -> federation_pb2.ResolveServiceResponse:
        endpoints = await self._core.resolve(request.service)
        return federation_pb2.ResolveServiceResponse(
            endpoints=[endpoint_to_proto(e) for e in endpoints]
        )

    async def RegisterServiceEndpoint(
        self,
        request: federation_pb2.RegisterServiceEndpointRequest,
        context: grpc.aio.ServicerContext,
    ) -> federation_pb2.RegisterServiceEndpointResponse:
        ttl = request.ttl.ToNanoseconds() / 1e9 if request.HasField("ttl") else None
        endpoint = await self._core.register_endpoint(request.service, request.address, ttl)
        return federation_pb2.RegisterServiceEndpointResponse(endpoint=endpoint_to_proto(endpoint))

    async def ListServices(
        self, request: federation_pb2.ListServicesRequest, context: grpc.aio.ServicerContext
    ) -> federation_pb2.ListServicesResponse:
        if request.page_size < 0:
            raise InvalidArgument("page_size must be >= 0", reason="BAD_PAGE_SIZE")
        size = min(MAX_PAGE, request.page_size or 100)
        start = int(request.page_token or 0)
        endpoints = await self._core.list_services()
        page = endpoints[start : start + size]
        token = str(start + size) if start + size < len(endpoints) else ""
        return federation_pb2.ListServicesResponse(
            endpoints=[endpoint_to_proto(e) for e in page], next_page_token=token
        )
