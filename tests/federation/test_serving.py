"""federation.serving.new_server: services are served through their generic handlers only (no
per-method pending requests in grpc.aio), and every method still answers over a real channel."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from omega.ingest.v1 import ingest_pb2, ingest_pb2_grpc

from federation.serving import add_health_and_reflection, new_server


class EchoIngest(ingest_pb2_grpc.IngestServiceServicer):
    async def IngestTicket(self, request, context):  # type: ignore[no-untyped-def]
        return ingest_pb2.IngestTicketResponse(ticket_id="echo")


def _pending_registered_requests() -> int:
    return sum(
        "_request_registered_call" in getattr(t.get_coro(), "__qualname__", "")
        for t in asyncio.all_tasks()
    )


async def _serve(server: grpc.aio.Server) -> str:
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(EchoIngest(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    await asyncio.sleep(0.05)  # let the server's main loop post its pending requests
    return f"127.0.0.1:{port}"


async def test_a_plain_server_keeps_a_pending_request_per_registered_method() -> None:
    """The cost new_server avoids, seen on a plain grpc.aio server (if a grpcio release stops
    doing this, this test says so and new_server's override can go)."""
    server = grpc.aio.server()
    try:
        await _serve(server)
        assert _pending_registered_requests() >= 2
    finally:
        await server.stop(None)


async def test_new_server_serves_every_method_through_the_generic_handler() -> None:
    server = new_server()
    health = add_health_and_reflection(server, ["omega.ingest.v1.IngestService"])
    try:
        target = await _serve(server)
        await health.set(True)
        assert _pending_registered_requests() == 0
        async with grpc.aio.insecure_channel(target) as ch:
            reply = await ingest_pb2_grpc.IngestServiceStub(ch).IngestTicket(
                ingest_pb2.IngestTicketRequest(payload=b"{}"), timeout=5
            )
            assert reply.ticket_id == "echo"
            status = await health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service="omega.ingest.v1.IngestService"), timeout=5
            )
            assert status.status == health_pb2.HealthCheckResponse.SERVING
            unknown = ch.unary_unary("/omega.ingest.v1.IngestService/NoSuchMethod")
            try:
                await unknown(b"", timeout=5)
                raise AssertionError("an unknown method answered")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        await server.stop(None)
