"""Routes each (tenant, task) through an ordered chain of Titans, the local model last.

Per call: a per-call timeout; retries with full jitter on retryable errors only (429 honouring
Retry-After up to ``max_retry_after_s``, 5xx, timeouts; never auth or validation errors); a
circuit breaker per provider; the tenant's monthly budget reserved before every attempt and
settled with the real usage after. Every answer passes the guard; a rejected one moves on to the
next Titan. When no cloud Titan is configured, or every one fails, the local model answers and
the result says so (``decided_by="local"``, ``fallback_reason``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from titans.base import (
    Model,
    ModelResponse,
    Task,
    TicketData,
    TitanRequest,
    Usage,
    approx_request_tokens,
)
from titans.breaker import CircuitBreaker
from titans.config import TitansSettings
from titans.errors import (
    AuthError,
    BadResponse,
    BudgetExceeded,
    CircuitOpen,
    RateLimited,
    TitanError,
    TitanTimeout,
    Transient,
)
from titans.guard import InjectionScan, scan_ticket, validate_output
from titans.ledger import BudgetLedger, Reservation
from titans.models.local import LocalModel
from titans.pricing import PriceTable
from titans.prompts import build_request, render_data_section
from titans.redaction import redact

logger = logging.getLogger(__name__)

LOCAL = "local"
_HEALTH_FAILURES = (RateLimited, Transient, AuthError)


@dataclass(frozen=True)
class Attempt:
    """One try of one Titan: ``outcome`` is ``ok`` or the error's reason code."""

    titan: str
    outcome: str
    cost_usd: float = 0.0


@dataclass
class TitanResult:
    """A task's validated answer and who decided it."""

    task: Task
    output: BaseModel
    decided_by: str
    model: str
    fallback_reason: str | None = None
    cost_usd: float = 0.0
    usage: Usage = field(default_factory=Usage)
    attempts: list[Attempt] = field(default_factory=list)
    injection_flags: tuple[str, ...] = ()
    needs_review: bool = False
    redactions: int = 0


class TitanRouter:
    """The one entry point the teams call for summaries, reply drafts and second opinions."""

    def __init__(
        self,
        models: Sequence[Model],
        local: LocalModel,
        ledger: BudgetLedger,
        settings: TitansSettings,
        *,
        prices: PriceTable | None = None,
        breaker: CircuitBreaker | None = None,
        canary: str | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._models = {m.name: m for m in models if m.name != LOCAL}
        self._local = local
        self._ledger = ledger
        self._settings = settings
        self._prices = prices or PriceTable(settings.prices)
        self._breaker = breaker or CircuitBreaker(
            settings.breaker_failures, settings.breaker_cooldown_s
        )
        self._canary = canary or f"omega-{secrets.token_hex(6)}"
        self._rng = rng or random.Random()
        self._sleep = sleep

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    @property
    def ledger(self) -> BudgetLedger:
        return self._ledger

    async def aclose(self) -> None:
        """Close every Titan's SDK client (the ledger stays open for reports)."""
        for model in self._models.values():
            await model.aclose()

    def chain(self, tenant: str, task: Task) -> list[Model]:
        """The cloud Titans to try for (tenant, task), in order (local is implied last)."""
        names = self._settings.chain_for(tenant, task.value)
        if names is None:
            return list(self._models.values())
        chain = []
        for name in names:
            if name == LOCAL:
                continue
            if name in self._models:
                chain.append(self._models[name])
            else:
                logger.warning("titan chain names an unconfigured titan: %s", name)
        return chain

    # -- the tasks ---------------------------------------------------------------------------

    async def summarise(self, tenant: str, ticket: TicketData) -> TitanResult:
        return await self.run(Task.SUMMARISE, tenant, ticket)

    async def draft_reply(self, tenant: str, ticket: TicketData) -> TitanResult:
        return await self.run(Task.DRAFT_REPLY, tenant, ticket)

    async def triage_second_opinion(
        self, tenant: str, ticket: TicketData, *, local_confidence: float, threshold: float
    ) -> TitanResult:
        """Ask a cloud Titan only when one is configured and the local model is unsure."""
        if local_confidence >= threshold:
            return await self._local_result(
                Task.TRIAGE_SECOND_OPINION, self._redacted(ticket)[0], "local_confident", []
            )
        return await self.run(Task.TRIAGE_SECOND_OPINION, tenant, ticket)

    async def run(self, task: Task, tenant: str, ticket: TicketData) -> TitanResult:
        """Redact, scan, then try the chain; the local model answers when nothing else does."""
        clean, redactions = self._redacted(ticket)
        scan = scan_ticket(clean)
        request = build_request(
            task, clean, canary=self._canary,
            max_tokens=self._settings.max_output_tokens.get(task.value, 512),
        )
        chain = self.chain(tenant, task)
        if not chain:
            return await self._local_result(task, clean, "no_cloud_configured", [], scan,
                                            redactions)
        attempts: list[Attempt] = []
        for model in chain:
            try:
                response, cost = await self._call(model, request, tenant, attempts)
            except TitanError:
                continue
            except Exception as exc:  # an adapter bug must not stop the local floor answering
                logger.warning("titan call raised %s: titan=%s", type(exc).__name__, model.name)
                attempts.append(Attempt(model.name, "TITAN_UNEXPECTED"))
                continue
            try:
                output = validate_output(request, response, scan, canary=self._canary)
            except BadResponse as exc:
                attempts.append(Attempt(model.name, exc.reason, cost))
                logger.info("titan answer rejected: titan=%s reason=%s", model.name, exc.reason)
                continue
            attempts.append(Attempt(model.name, "ok", cost))
            return TitanResult(
                task=task, output=output, decided_by=model.name, model=model.model_name,
                cost_usd=sum(a.cost_usd for a in attempts), usage=response.usage,
                attempts=attempts, injection_flags=scan.flags,
                needs_review=scan.suspicious and task is Task.TRIAGE_SECOND_OPINION,
                redactions=redactions,
            )
        reasons = {a.outcome for a in attempts if a.outcome != "ok"}
        reason = "budget_exceeded" if reasons == {BudgetExceeded.reason} else "all_titans_failed"
        return await self._local_result(task, clean, reason, attempts, scan, redactions)

    def stream(self, task: Task, tenant: str, ticket: TicketData) -> TitanStream:
        """Stream a task's answer as text deltas; ``result`` holds the validated answer after."""
        return TitanStream(self, task, tenant, ticket)

    # -- internals ---------------------------------------------------------------------------

    @staticmethod
    def _redacted(ticket: TicketData) -> tuple[TicketData, int]:
        subject, body = redact(ticket.subject), redact(ticket.body)
        clean = ticket.model_copy(update={"subject": subject.text, "body": body.text})
        return clean, subject.total + body.total

    async def _local_result(
        self, task: Task, ticket: TicketData, reason: str, attempts: list[Attempt],
        scan: InjectionScan | None = None, redactions: int = 0,
    ) -> TitanResult:
        request = build_request(task, ticket, canary=self._canary)
        response = await self._local.request(request, timeout_s=self._settings.timeout_s)
        assert request.output_type is not None
        output = request.output_type.model_validate_json(response.text)
        attempts.append(Attempt(LOCAL, "ok"))
        return TitanResult(
            task=task, output=output, decided_by=LOCAL, model=self._local.model_name,
            fallback_reason=reason, cost_usd=sum(a.cost_usd for a in attempts),
            attempts=attempts, injection_flags=scan.flags if scan else (),
            needs_review=bool(scan and scan.suspicious and task is Task.TRIAGE_SECOND_OPINION),
            redactions=redactions,
        )

    def _backoff(self, attempt: int) -> float:
        cap = min(self._settings.backoff_max_s, self._settings.backoff_s * (2**attempt))
        return self._rng.uniform(0, cap)

    async def _reserve(
        self, model: Model, request: TitanRequest, tenant: str
    ) -> tuple[Reservation, int]:
        data = render_data_section(request.ticket)
        prompt_bound = approx_request_tokens(request, data, bytes_per_token=2.0)
        amount = self._prices.max_cost(model.model_name, prompt_bound, request.max_tokens)
        reservation = await self._ledger.reserve(
            tenant, amount, self._settings.budget_for(tenant), ticket_id=request.ticket.ticket_id,
            titan=model.name, model=model.model_name, task=request.task.value,
        )
        return reservation, approx_request_tokens(request, data)

    async def _call(
        self, model: Model, request: TitanRequest, tenant: str, attempts: list[Attempt]
    ) -> tuple[ModelResponse, float]:
        """One Titan with retries; records failed tries in ``attempts``; raises the last error."""
        timeout = self._settings.timeout_s
        for attempt in range(self._settings.max_retries + 1):
            if not self._breaker.allow(model.name):
                attempts.append(Attempt(model.name, CircuitOpen.reason))
                raise CircuitOpen(f"{model.name}: circuit open")
            try:
                reservation, prompt_estimate = await self._reserve(model, request, tenant)
            except BudgetExceeded as exc:
                self._breaker.release(model.name)
                attempts.append(Attempt(model.name, exc.reason))
                raise
            settled = False
            try:
                try:
                    async with asyncio.timeout(timeout):
                        response = await model.request(request, timeout_s=timeout)
                except TimeoutError:
                    raise TitanTimeout(f"{model.name}: timed out") from None
                usage = response.usage
                if usage.estimated:  # no usage reported: charge what was reserved
                    cost = reservation.amount
                else:
                    cost = self._prices.cost(model.model_name, usage)
                await self._ledger.settle(reservation, cost, usage)
                settled = True
                self._breaker.success(model.name)
                return response, cost
            except TitanError as exc:
                # A timed-out call may still be billed for its prompt; errors answered are not.
                charge = 0.0
                if isinstance(exc, TitanTimeout):
                    charge = self._prices.cost(model.model_name, Usage(prompt_estimate, 0))
                await self._ledger.settle(reservation, charge, state="failed")
                settled = True
                attempts.append(Attempt(model.name, exc.reason, charge))
                if isinstance(exc, _HEALTH_FAILURES):
                    self._breaker.failure(model.name)
                else:
                    self._breaker.success(model.name)  # it answered: reachable
                logger.info("titan call failed: titan=%s reason=%s try=%d",
                            model.name, exc.reason, attempt + 1)
                if not exc.retryable or attempt == self._settings.max_retries:
                    raise
                delay = self._backoff(attempt)
                if isinstance(exc, RateLimited) and exc.retry_after is not None:
                    delay = exc.retry_after + self._rng.uniform(0, 0.1 * exc.retry_after)
                if delay > self._settings.max_retry_after_s:
                    raise
                await self._sleep(delay)
            finally:
                if not settled:  # cancelled or an unexpected error: release the hold
                    await asyncio.shield(self._ledger.settle(reservation, 0.0, state="failed"))
                    self._breaker.release(model.name)
        raise AssertionError("unreachable")


class TitanStream:
    """Text deltas of one task's answer, with fallback until the first delta arrives.

    After the stream ends, ``result`` holds the validated answer; if the guard rejects the
    complete text, iteration raises OutputRejected/BadResponse and the caller must discard what
    it showed.
    """

    def __init__(self, router: TitanRouter, task: Task, tenant: str, ticket: TicketData) -> None:
        self._router = router
        self._task = task
        self._tenant = tenant
        self._ticket = ticket
        self.result: TitanResult | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def _run(self) -> AsyncIterator[str]:
        r = self._router
        clean, redactions = r._redacted(self._ticket)
        scan = scan_ticket(clean)
        request = build_request(
            self._task, clean, canary=r._canary,
            max_tokens=r._settings.max_output_tokens.get(self._task.value, 512),
        )
        attempts: list[Attempt] = []
        for model in r.chain(self._tenant, self._task) + [r._local]:
            is_local = model is r._local
            reservation = None
            if not is_local:
                if not r._breaker.allow(model.name):
                    attempts.append(Attempt(model.name, CircuitOpen.reason))
                    continue
                try:
                    reservation, _ = await r._reserve(model, request, self._tenant)
                except BudgetExceeded as exc:
                    r._breaker.release(model.name)
                    attempts.append(Attempt(model.name, exc.reason))
                    continue
            parts: list[str] = []
            usage: Usage = Usage(estimated=True)
            calls: tuple[str, ...] = ()
            settled = False
            try:
                try:
                    async with asyncio.timeout(r._settings.timeout_s):
                        stream = model.request_stream(request, timeout_s=r._settings.timeout_s)
                        async for event in stream:
                            calls = calls or event.tool_calls
                            if event.usage is not None:
                                usage = event.usage
                            if event.delta:
                                parts.append(event.delta)
                                yield event.delta
                except (TitanError, TimeoutError) as exc:
                    reason = exc.reason if isinstance(exc, TitanError) else TitanTimeout.reason
                    if reservation is not None:
                        await r._ledger.settle(reservation, 0.0, state="failed")
                        settled = True
                        if not isinstance(exc, TitanError) or isinstance(exc, _HEALTH_FAILURES):
                            r._breaker.failure(model.name)
                        else:
                            r._breaker.success(model.name)
                    attempts.append(Attempt(model.name, reason))
                    if parts:
                        raise
                    continue
                cost = 0.0
                if reservation is not None:
                    cost = (reservation.amount if usage.estimated
                            else r._prices.cost(model.model_name, usage))
                    await r._ledger.settle(reservation, cost, usage)
                    settled = True
                    r._breaker.success(model.name)
            finally:
                if reservation is not None and not settled:
                    await asyncio.shield(r._ledger.settle(reservation, 0.0, state="failed"))
                    r._breaker.release(model.name)
            response = ModelResponse("".join(parts), usage, model.model_name, model.name, calls)
            assert request.output_type is not None
            if is_local:
                output = request.output_type.model_validate_json(response.text)
                reason_text: str | None = "all_titans_failed" if attempts else "no_cloud_configured"
            else:
                output = validate_output(request, response, scan, canary=r._canary)
                reason_text = None
            attempts.append(Attempt(model.name, "ok", cost))
            self.result = TitanResult(
                task=self._task, output=output, decided_by=model.name, model=model.model_name,
                fallback_reason=reason_text, cost_usd=sum(a.cost_usd for a in attempts),
                usage=usage, attempts=attempts, injection_flags=scan.flags,
                redactions=redactions,
            )
            return
