"""ContextService: OMEGA's memory as plain async domain logic (no gRPC types).

The triage pipeline calls it in-process (``recall``/``remember``); the gRPC servicer translates
protos to these calls. Text is redacted before it is embedded or stored; subjects are kept only
as salted hashes so erasure by subject finds every memory and session about a person.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from context.audit import AuditLog
from context.embedding import MicroBatcher
from context.index import LongTermIndex
from context.keywords import tokenize
from context.models import (
    Clock,
    EraseSelector,
    ForgetResult,
    MemoryKind,
    MemoryRecord,
    RecallHit,
    RecallQuery,
    SessionState,
    wall_clock,
)
from context.redaction import Redactor, subject_hash
from context.sessions import SessionStore
from federation.errors import InvalidArgument, NotFound
from federation.tenancy import validate_tenant

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 32_000
MAX_TOP_K = 100
MAX_METADATA_PAIRS = 32
DEFAULT_SESSION_TTL_S = 3600.0
MAX_SESSION_TTL_S = 7 * 24 * 3600.0
MAX_SESSION_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RememberResult:
    """The stored memory, whether it replaced an earlier one, and how much was redacted."""

    memory: MemoryRecord
    deduplicated: bool
    redactions: int


def _check_id(name: str, value: str, *, max_len: int = 200) -> str:
    if len(value) > max_len or any(c in value for c in "\x00\n\r"):
        raise InvalidArgument(f"{name} is too long or has control characters", reason="BAD_ID")
    return value


def _check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_PAIRS:
        raise InvalidArgument(f"at most {MAX_METADATA_PAIRS} metadata pairs", reason="BAD_METADATA")
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not key or len(key) > 64 or len(value) > 256:
            raise InvalidArgument("metadata keys are 1-64 chars, values at most 256", reason="BAD_METADATA")
        out[str(key)] = str(value)
    return out


class ContextService:
    """Remember, Recall, Forget and session state for every tenant."""

    def __init__(
        self,
        *,
        index: LongTermIndex,
        sessions: SessionStore,
        embedder: MicroBatcher,
        audit: AuditLog,
        redactor: Redactor | None = None,
        subject_salt: str = "omega-context",
        clock: Clock = wall_clock,
    ) -> None:
        self._index = index
        self._sessions = sessions
        self._embedder = embedder
        self._audit = audit
        self._redactor = redactor or Redactor()
        self._salt = subject_salt
        self._clock = clock
        self._dim = embedder.embedder.dim
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def dim(self) -> int:
        return self._dim

    def _subject(self, subject_id: str) -> str:
        return subject_hash(subject_id, self._salt)

    def _vector(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        vec = np.asarray(values, dtype=np.float32).reshape(-1)
        if vec.shape[0] != self._dim or not np.all(np.isfinite(vec)):
            raise InvalidArgument(f"embedding must be {self._dim} finite floats", reason="BAD_EMBEDDING")
        norm = float(np.linalg.norm(vec))
        if norm == 0.0:
            raise InvalidArgument("embedding must not be all zeros", reason="BAD_EMBEDDING")
        return vec / norm

    # ---- long-term memory --------------------------------------------------------------------

    async def remember(
        self,
        tenant: str,
        kind: MemoryKind | int,
        text: str,
        *,
        resolution: str = "",
        metadata: Mapping[str, str] | None = None,
        source_ticket_id: str = "",
        confirmed: bool = False,
        ttl_s: float | None = None,
        subject_ids: Iterable[str] = (),
        redact_names: Iterable[str] = (),
        embedding: Sequence[float] | np.ndarray | None = None,
    ) -> RememberResult:
        """Redact, embed and store one memory; the same (kind, source ticket) is updated, not duplicated."""
        validate_tenant(tenant)
        try:
            mkind = MemoryKind(int(kind))
        except ValueError:
            raise InvalidArgument("kind must be a known MemoryKind", reason="BAD_KIND") from None
        if not text.strip():
            raise InvalidArgument("text is required", reason="EMPTY_TEXT")
        if len(text) + len(resolution) > MAX_TEXT_CHARS:
            raise InvalidArgument(f"text is longer than {MAX_TEXT_CHARS} chars", reason="TOO_LONG")
        if ttl_s is not None and (ttl_s < 0 or not math.isfinite(ttl_s)):
            raise InvalidArgument("ttl must be >= 0", reason="BAD_TTL")
        _check_id("source_ticket_id", source_ticket_id)
        meta = _check_metadata(metadata or {})
        subjects = [_check_id("subject_id", s) for s in subject_ids if s.strip()]
        names = list(redact_names)
        red_text = self._redactor.redact(text, names)
        red_res = self._redactor.redact(resolution, names) if resolution else None
        hashes = {self._subject(s) for s in subjects}
        hashes |= {self._subject(e) for e in red_text.emails}
        if red_res is not None:
            hashes |= {self._subject(e) for e in red_res.emails}
        vec = (
            self._vector(embedding)
            if embedding is not None and len(embedding) > 0
            else await self._embedder.embed_one(red_text.text)
        )
        now = self._clock()
        if source_ticket_id:
            digest = hashlib.sha256(f"{tenant}\x00{int(mkind)}\x00{source_ticket_id}".encode())
            memory_id = f"mem_{digest.hexdigest()[:24]}"
            deduplicated = await self._index.get(tenant, memory_id, now) is not None
        else:
            memory_id, deduplicated = f"mem_{uuid.uuid4().hex[:24]}", False
        record = MemoryRecord(
            memory_id=memory_id,
            tenant=tenant,
            kind=mkind,
            text=red_text.text,
            resolution=red_res.text if red_res else "",
            metadata=meta,
            source_ticket_id=source_ticket_id,
            confirmed=confirmed,
            create_time=now,
            expire_time=now + ttl_s if ttl_s else None,
            subject_hashes=tuple(sorted(hashes)),
        )
        await self._index.upsert(record, vec)
        redactions = red_text.count + (red_res.count if red_res else 0)
        log.info("remembered %s kind=%s tenant=%s redactions=%d", memory_id, mkind.name, tenant, redactions)
        return RememberResult(record, deduplicated, redactions)

    async def recall(
        self,
        tenant: str,
        *,
        text: str = "",
        embedding: Sequence[float] | np.ndarray | None = None,
        metadata_filter: Mapping[str, str] | None = None,
        kinds: Iterable[MemoryKind | int] = (),
        only_confirmed: bool = False,
        top_k: int = 5,
    ) -> list[RecallHit]:
        """The tenant's ``top_k`` memories most similar to ``text`` (or ``embedding``), best first."""
        validate_tenant(tenant)
        if top_k == 0:
            top_k = 5
        if not 1 <= top_k <= MAX_TOP_K:
            raise InvalidArgument(f"top_k must be 1..{MAX_TOP_K}", reason="BAD_TOP_K")
        has_vec = embedding is not None and len(embedding) > 0
        if not text.strip() and not has_vec:
            raise InvalidArgument("query text or embedding is required", reason="EMPTY_QUERY")
        if len(text) > MAX_TEXT_CHARS:
            raise InvalidArgument(f"query is longer than {MAX_TEXT_CHARS} chars", reason="TOO_LONG")
        try:
            kind_set = frozenset(MemoryKind(int(k)) for k in kinds)
        except ValueError:
            raise InvalidArgument("kinds must be known MemoryKinds", reason="BAD_KIND") from None
        meta = _check_metadata(metadata_filter or {})
        red = self._redactor.redact(text).text if text else ""
        if has_vec:
            assert embedding is not None
            vec = self._vector(embedding)
        else:
            vec = await self._embedder.embed_one(red)
        query = RecallQuery(
            tenant=tenant,
            embedding=vec,
            terms=tuple(tokenize(red)),
            metadata_filter=meta,
            kinds=kind_set,
            only_confirmed=only_confirmed,
            top_k=top_k,
        )
        return await self._index.search(query, self._clock())

    async def get_memory(self, tenant: str, memory_id: str) -> MemoryRecord:
        """One memory of the tenant; NotFound when absent, expired or another tenant's."""
        validate_tenant(tenant)
        if not memory_id:
            raise InvalidArgument("memory_id is required", reason="EMPTY_ID")
        record = await self._index.get(tenant, _check_id("memory_id", memory_id), self._clock())
        if record is None:
            raise NotFound("no such memory", reason="MEMORY_NOT_FOUND")
        return record

    # ---- erasure -----------------------------------------------------------------------------

    async def forget(
        self,
        tenant: str,
        *,
        subject_id: str = "",
        source_ticket_id: str = "",
        memory_id: str = "",
        entire_tenant: bool = False,
        requested_by: str = "",
        reason: str = "",
    ) -> ForgetResult:
        """Erase from every store (long-term index, sessions) and write an audit record."""
        validate_tenant(tenant)
        chosen = [bool(subject_id.strip()), bool(source_ticket_id), bool(memory_id), entire_tenant]
        if sum(chosen) != 1:
            raise InvalidArgument(
                "set exactly one of subject_id, source_ticket_id, memory_id, entire_tenant",
                reason="BAD_SELECTOR",
            )
        sessions = 0
        if subject_id.strip():
            h = self._subject(_check_id("subject_id", subject_id))
            selector, kind, value = EraseSelector(tenant, subject_hash=h), "subject", h
            sessions = await self._sessions.forget_subject(tenant, h)
        elif source_ticket_id:
            _check_id("source_ticket_id", source_ticket_id)
            selector = EraseSelector(tenant, source_ticket_id=source_ticket_id)
            kind, value = "source_ticket", source_ticket_id
        elif memory_id:
            _check_id("memory_id", memory_id)
            selector, kind, value = EraseSelector(tenant, memory_id=memory_id), "memory", memory_id
        else:
            selector, kind, value = EraseSelector(tenant, entire_tenant=True), "tenant", tenant
            sessions = await self._sessions.forget_tenant(tenant)
        memories = await self._index.delete(selector)
        if memory_id and memories == 0:
            raise NotFound("no such memory", reason="MEMORY_NOT_FOUND")
        record = await self._audit.append(
            tenant=tenant,
            erase_time=self._clock(),
            selector=kind,
            selector_value=value,
            memories_deleted=memories,
            sessions_deleted=sessions,
            requested_by=_check_id("requested_by", requested_by),
            reason=_check_id("reason", reason, max_len=500),
        )
        log.info(
            "forgot %s for tenant=%s: %d memories, %d sessions, audit %s",
            kind, tenant, memories, sessions, record.audit_record_id,
        )
        return ForgetResult(memories, sessions, record.audit_record_id, record.erase_time)

    # ---- short-term session state ------------------------------------------------------------

    def _session_id(self, session_id: str) -> str:
        if not session_id or len(session_id) > 128 or not session_id.isprintable() or any(
            c in session_id for c in " *?[]"
        ):
            raise InvalidArgument("session_id must be 1-128 printable chars", reason="BAD_SESSION_ID")
        return session_id

    async def put_session_state(
        self,
        tenant: str,
        session_id: str,
        state: bytes,
        *,
        ttl_s: float = 0,
        subject_ids: Iterable[str] = (),
    ) -> float:
        """Store a session's state; returns its expiry (epoch seconds)."""
        validate_tenant(tenant)
        self._session_id(session_id)
        ttl = ttl_s or DEFAULT_SESSION_TTL_S
        if not 0 < ttl <= MAX_SESSION_TTL_S:
            raise InvalidArgument("ttl must be 1 s .. 7 days", reason="BAD_TTL")
        if len(state) > MAX_SESSION_BYTES:
            raise InvalidArgument("session state is larger than 1 MiB", reason="TOO_LONG")
        hashes = [self._subject(s) for s in subject_ids if s.strip()]
        return await self._sessions.put(tenant, session_id, state, ttl, hashes)

    async def get_session_state(self, tenant: str, session_id: str) -> SessionState:
        """A session's state; NotFound when absent or expired."""
        validate_tenant(tenant)
        state = await self._sessions.get(tenant, self._session_id(session_id))
        if state is None:
            raise NotFound("no such session", reason="SESSION_NOT_FOUND")
        return state

    async def delete_session_state(self, tenant: str, session_id: str) -> bool:
        validate_tenant(tenant)
        return await self._sessions.delete(tenant, self._session_id(session_id))

    # ---- housekeeping ------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Delete every expired memory and session now; returns how many were deleted."""
        now = self._clock()
        return await self._index.purge_expired(now) + await self._sessions.sweep()

    def start_sweeper(self, interval_s: float) -> None:
        """Run ``sweep`` every ``interval_s`` seconds until ``close``."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_s)
                try:
                    deleted = await self.sweep()
                    if deleted:
                        log.info("sweeper deleted %d expired items", deleted)
                except Exception:  # noqa: BLE001 - the sweeper must survive a bad pass
                    log.exception("context sweeper pass failed")

        if self._sweeper is None:
            self._sweeper = asyncio.create_task(loop(), name="context-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None
        await self._embedder.close()
        await self._index.close()
        await self._sessions.close()
        self._audit.close()
