"""ContextService over gRPC: translates protos to the domain service and back, nothing else."""

from __future__ import annotations

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from omega.context.v1 import context_pb2 as pb
from omega.context.v1 import context_pb2_grpc as pb_grpc

from context.models import MemoryRecord, RecallHit
from context.service import ContextService
from federation.tenancy import resolve_tenant


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def memory_to_proto(rec: MemoryRecord) -> pb.Memory:
    msg = pb.Memory(
        memory_id=rec.memory_id,
        tenant=rec.tenant,
        kind=int(rec.kind),
        text=rec.text,
        resolution=rec.resolution,
        metadata=dict(rec.metadata),
        source_ticket_id=rec.source_ticket_id,
        confirmed=rec.confirmed,
        create_time=_ts(rec.create_time),
    )
    if rec.expire_time is not None:
        msg.expire_time.CopyFrom(_ts(rec.expire_time))
    return msg


def hit_to_proto(hit: RecallHit) -> pb.RecallHit:
    return pb.RecallHit(
        memory=memory_to_proto(hit.memory),
        score=hit.score,
        semantic_score=hit.semantic_score,
        keyword_score=hit.keyword_score,
        matched_terms=list(hit.matched_terms),
        why=hit.why,
    )


class ContextServicer(pb_grpc.ContextServiceServicer):  # type: ignore[misc]
    """Thin translation layer; tenants resolve from the request, then metadata, then the default."""

    def __init__(self, service: ContextService, default_tenant: str = "default") -> None:
        self._service = service
        self._default = default_tenant

    def _tenant(self, explicit: str) -> str:
        return resolve_tenant(explicit, self._default)

    async def Remember(
        self, request: pb.RememberRequest, context: grpc.aio.ServicerContext
    ) -> pb.RememberResponse:
        result = await self._service.remember(
            self._tenant(request.tenant),
            request.kind,
            request.text,
            resolution=request.resolution,
            metadata=dict(request.metadata),
            source_ticket_id=request.source_ticket_id,
            confirmed=request.confirmed,
            ttl_s=float(request.ttl_seconds) if request.ttl_seconds else None,
            subject_ids=list(request.subject_ids),
            redact_names=list(request.redact_names),
            embedding=list(request.embedding) or None,
        )
        return pb.RememberResponse(
            memory=memory_to_proto(result.memory),
            deduplicated=result.deduplicated,
            redactions=result.redactions,
        )

    async def Recall(
        self, request: pb.RecallRequest, context: grpc.aio.ServicerContext
    ) -> pb.RecallResponse:
        hits = await self._service.recall(
            self._tenant(request.tenant),
            text=request.query,
            embedding=list(request.embedding) or None,
            metadata_filter=dict(request.metadata_filter),
            kinds=list(request.kinds),
            only_confirmed=request.only_confirmed,
            top_k=request.top_k,
        )
        return pb.RecallResponse(hits=[hit_to_proto(h) for h in hits])

    async def GetMemory(
        self, request: pb.GetMemoryRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemoryResponse:
        rec = await self._service.get_memory(self._tenant(request.tenant), request.memory_id)
        return pb.GetMemoryResponse(memory=memory_to_proto(rec))

    async def Forget(
        self, request: pb.ForgetRequest, context: grpc.aio.ServicerContext
    ) -> pb.ForgetResponse:
        result = await self._service.forget(
            self._tenant(request.tenant),
            subject_id=request.subject_id,
            source_ticket_id=request.source_ticket_id,
            memory_id=request.memory_id,
            entire_tenant=request.entire_tenant,
            requested_by=request.requested_by,
            reason=request.reason,
        )
        return pb.ForgetResponse(
            memories_deleted=result.memories_deleted,
            sessions_deleted=result.sessions_deleted,
            audit_record_id=result.audit_record_id,
            erase_time=_ts(result.erase_time),
        )

    async def PutSessionState(
        self, request: pb.PutSessionStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutSessionStateResponse:
        expire = await self._service.put_session_state(
            self._tenant(request.tenant),
            request.session_id,
            request.state,
            ttl_s=float(request.ttl_seconds),
            subject_ids=list(request.subject_ids),
        )
        return pb.PutSessionStateResponse(expire_time=_ts(expire))

    async def GetSessionState(
        self, request: pb.GetSessionStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetSessionStateResponse:
        state = await self._service.get_session_state(self._tenant(request.tenant), request.session_id)
        return pb.GetSessionStateResponse(state=state.state, expire_time=_ts(state.expire_time))

    async def DeleteSessionState(
        self, request: pb.DeleteSessionStateRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteSessionStateResponse:
        deleted = await self._service.delete_session_state(
            self._tenant(request.tenant), request.session_id
        )
        return pb.DeleteSessionStateResponse(deleted=deleted)
