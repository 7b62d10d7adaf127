"""Local HTTP stand-ins that speak the OpenAI, Anthropic and Gemini wire formats.

They are NOT the vendors: small starlette apps on 127.0.0.1, port 0, that answer the requests the
real SDKs send with bodies shaped like the vendors' documented responses (JSON and SSE). Each test
scripts what they answer (a text, a tool call, a status with headers, a hang) and reads back the
requests they received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    """One scripted answer: a model text (or tool call), or an HTTP error, or a hang."""

    text: str | None = None
    tool_call: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None
    hang: bool = False
    usage: tuple[int, int] | None = None


def _schema_props(body: Any) -> list[str] | None:
    if isinstance(body, dict):
        if "properties" in body and isinstance(body["properties"], dict):
            return list(body["properties"])
        for value in body.values():
            found = _schema_props(value)
            if found is not None:
                return found
    if isinstance(body, list):
        for value in body:
            found = _schema_props(value)
            if found is not None:
                return found
    return None


_DEFAULTS: dict[str, Any] = {
    "summary": "Stand-in summary: the user's printer does not print.",
    "reply": "Hello, thank you for your ticket. Could you send the error message?",
    "category": "hardware",
    "priority": "P3",
    "confidence": 0.81,
    "rationale": "stand-in rationale",
}


def default_answer(body: Any) -> str:
    """A valid answer to whatever schema the request carried."""
    props = _schema_props(body)
    if not props:
        return "ok"
    return json.dumps({name: _DEFAULTS.get(name, "x") for name in props})


class StandIn:
    """One vendor's stand-in: a script of replies, a log of requests, a release for hangs."""

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        # Answers requests when the script is empty (e.g. a model that obeys injections).
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self._release = threading.Event()
        self.base_url = ""
        self.app = Starlette(routes=self._routes())

    def reset(self) -> None:
        """Forget the script, the log and the responder; free any request still hanging."""
        self._release.set()
        self._release = threading.Event()
        self.script.clear()
        self.requests.clear()
        self.responder = None

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def release(self) -> None:
        self._release.set()

    # -- vendor formats ------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        if self.vendor == "openai":
            return [Route("/v1/chat/completions", self._handle, methods=["POST"])]
        if self.vendor == "anthropic":
            return [
                Route("/v1/messages", self._handle, methods=["POST"]),
                Route("/v1/messages/count_tokens", self._count, methods=["POST"]),
            ]
        return [Route("/v1beta/models/{rest:path}", self._handle, methods=["POST"])]

    async def _count(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append({"path": request.url.path, "headers": dict(request.headers),
                              "body": body})
        return JSONResponse({"input_tokens": len(json.dumps(body)) // 4})

    async def _handle(self, request: Request) -> Response:
        body = await request.json()
        path = request.url.path
        self.requests.append({"path": path, "headers": dict(request.headers), "body": body})
        if self.vendor == "gemini" and path.endswith(":countTokens"):
            return JSONResponse({"totalTokens": len(json.dumps(body)) // 4})
        if self.script:
            reply = self.script.popleft()
        elif self.responder is not None:
            reply = self.responder(body)
        else:
            reply = Reply()
        if reply.hang:
            release = self._release
            while not release.is_set():
                await asyncio.to_thread(release.wait, 0.5)
        if reply.raw_body is not None:
            return Response(reply.raw_body, status_code=reply.status, headers=reply.headers,
                            media_type="application/json")
        if reply.status >= 400:
            return JSONResponse(self._error(reply.status), status_code=reply.status,
                                headers=reply.headers)
        text = reply.text if reply.text is not None else default_answer(body)
        prompt = reply.usage[0] if reply.usage else max(1, len(json.dumps(body)) // 4)
        completion = reply.usage[1] if reply.usage else max(1, len(text) // 4)
        stream = bool(body.get("stream")) or path.endswith(":streamGenerateContent")
        model = str(body.get("model") or path.split("/")[-1].split(":")[0])
        if stream:
            events = self._sse(model, text, reply.tool_call, prompt, completion)
            return StreamingResponse(_iterate(events), media_type="text/event-stream")
        return JSONResponse(self._complete(model, text, reply.tool_call, prompt, completion))

    def _error(self, status: int) -> dict[str, Any]:
        if self.vendor == "openai":
            return {"error": {"message": "stand-in error", "type": "error", "code": status}}
        if self.vendor == "anthropic":
            return {"type": "error", "error": {"type": "api_error", "message": "stand-in"}}
        return {"error": {"code": status, "message": "stand-in error", "status": "UNAVAILABLE"}}

    def _complete(
        self, model: str, text: str, tool: str | None, prompt: int, completion: int
    ) -> dict[str, Any]:
        if self.vendor == "openai":
            message: dict[str, Any] = {"role": "assistant", "content": None if tool else text}
            if tool:
                message["tool_calls"] = [{"id": "call_1", "type": "function",
                                          "function": {"name": tool, "arguments": "{}"}}]
            return {
                "id": "chatcmpl-standin", "object": "chat.completion", "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "tool_calls" if tool else "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion},
            }
        if self.vendor == "anthropic":
            block: dict[str, Any] = (
                {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {}}
                if tool else {"type": "text", "text": text}
            )
            return {
                "id": "msg_standin", "type": "message", "role": "assistant", "model": model,
                "content": [block], "stop_reason": "tool_use" if tool else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": completion},
            }
        part = {"functionCall": {"name": tool, "args": {}}} if tool else {"text": text}
        return {
            "candidates": [{"content": {"parts": [part], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": completion,
                              "totalTokenCount": prompt + completion},
            "modelVersion": model,
        }

    def _sse(
        self, model: str, text: str, tool: str | None, prompt: int, completion: int
    ) -> list[str]:
        pieces = [text[i:i + 7] for i in range(0, len(text), 7)] or [""]
        if self.vendor == "openai":
            def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
                return "data: " + json.dumps({
                    "id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0,
                    "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }) + "\n\n"
            out = [chunk({"role": "assistant", "content": ""})]
            if tool:
                out.append(chunk({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                                  "function": {"name": tool, "arguments": "{}"}}]}))
            else:
                out += [chunk({"content": p}) for p in pieces]
            out.append(chunk({}, "stop"))
            out.append("data: " + json.dumps({
                "id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion},
            }) + "\n\n")
            out.append("data: [DONE]\n\n")
            return out
        if self.vendor == "anthropic":
            def event(name: str, data: dict[str, Any]) -> str:
                return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"
            out = [event("message_start", {"message": {
                "id": "msg_standin", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": {"input_tokens": prompt, "output_tokens": 1}}})]
            if tool:
                out.append(event("content_block_start", {"index": 0, "content_block": {
                    "type": "tool_use", "id": "toolu_1", "name": tool, "input": {}}}))
            else:
                out.append(event("content_block_start", {
                    "index": 0, "content_block": {"type": "text", "text": ""}}))
                out += [event("content_block_delta", {
                    "index": 0, "delta": {"type": "text_delta", "text": p}}) for p in pieces]
            out.append(event("content_block_stop", {"index": 0}))
            out.append(event("message_delta", {
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": completion}}))
            out.append(event("message_stop", {}))
            return out
        out = []
        for i, p in enumerate(pieces):
            last = i == len(pieces) - 1
            part = {"functionCall": {"name": tool, "args": {}}} if tool else {"text": p}
            data: dict[str, Any] = {
                "candidates": [{"content": {"parts": [part], "role": "model"}, "index": 0,
                                **({"finishReason": "STOP"} if last else {})}],
                "modelVersion": model,
            }
            if last:
                data["usageMetadata"] = {"promptTokenCount": prompt,
                                         "candidatesTokenCount": completion,
                                         "totalTokenCount": prompt + completion}
            out.append("data: " + json.dumps(data) + "\r\n\r\n")
            if tool:
                break
        return out


async def _iterate(events: list[str]) -> AsyncIterator[bytes]:
    for e in events:
        yield e.encode()


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue until uvicorn accepts: no need to wait for start-up
    return sock


def _base_url(vendor: str, port: int) -> str:
    return {
        "openai": f"http://127.0.0.1:{port}/v1",
        "anthropic": f"http://127.0.0.1:{port}",
        "gemini": f"http://127.0.0.1:{port}/",
    }[vendor]


def _server(app: Starlette) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=2)
    return uvicorn.Server(config)


@contextlib.asynccontextmanager
async def serve(vendor: str) -> AsyncIterator[StandIn]:
    """Run a stand-in in this event loop on 127.0.0.1, port 0."""
    standin = StandIn(vendor)
    sock = _listening_socket()
    standin.base_url = _base_url(vendor, sock.getsockname()[1])
    server = _server(standin.app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield standin
    finally:
        standin.release()
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)
        sock.close()


@contextlib.contextmanager
def serve_in_thread(vendor: str) -> Iterator[StandIn]:
    """Run a stand-in on its own thread (for code that calls ``asyncio.run`` itself)."""
    standin = StandIn(vendor)
    sock = _listening_socket()
    standin.base_url = _base_url(vendor, sock.getsockname()[1])
    server = _server(standin.app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        standin.release()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
