"""Raw payloads and audit exports in Azure Blob Storage, and a local-directory equivalent.

Raw payloads: one block blob per payload, named by its id, with tenant/source/channel/sha256
and the arrival time as metadata; written once (``overwrite=False``: a payload id is never
reused, a retry of the same id is an idempotent no-op after comparing the digest).
Audit exports go to a separate container that production configures with a time-based
immutability (WORM) policy in Bicep; the adapter only ever creates blobs there, never
overwrites or deletes (Azurite does not enforce immutability; the create-only rule it does).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob.aio import BlobServiceClient, LinearRetry

from backends.records import RawPayload
from federation.errors import AlreadyExists, Unavailable


class BlobStore(Protocol):
    """Where raw payloads (and audit exports) are kept, durably, before anything else."""

    async def put_raw(self, raw: RawPayload) -> None: ...

    async def get_raw(self, raw_payload_id: str) -> RawPayload | None: ...

    async def put_audit_export(self, name: str, data: bytes) -> None:
        """Create-only: an existing export is never replaced (raises ``AlreadyExists``)."""
        ...

    async def aclose(self) -> None: ...


@asynccontextmanager
async def unavailable_on_failure(what: str) -> AsyncIterator[None]:
    try:
        yield
    except (ServiceRequestError, ServiceResponseError, OSError) as exc:
        raise Unavailable(f"{what}: blob storage unavailable ({type(exc).__name__})", reason="STORE_UNAVAILABLE") from exc
    except HttpResponseError as exc:
        if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code in (408, 429)):
            raise Unavailable(f"{what}: blob storage answered {exc.status_code}", reason="STORE_UNAVAILABLE") from exc
        raise


def _metadata(raw: RawPayload) -> dict[str, str]:
    return {
        "tenant": raw.tenant,
        "source": raw.source,
        "received_via": raw.received_via,
        "sha256": raw.sha256,
        "received_at": repr(raw.received_at),
    }


def _payload(raw_id: str, body: bytes, meta: dict[str, str]) -> RawPayload:
    return RawPayload(
        id=raw_id,
        tenant=meta.get("tenant", ""),
        source=meta.get("source", ""),
        received_via=meta.get("received_via", ""),
        body=body,
        received_at=float(meta.get("received_at", "0")),
        sha256=meta.get("sha256", hashlib.sha256(body).hexdigest()),
    )


class AzureBlobStore:
    """Blob Storage over the async SDK (aiohttp)."""

    def __init__(self, service: BlobServiceClient, raw_container: str, audit_container: str) -> None:
        self._service = service
        self._raw = service.get_container_client(raw_container)
        self._audit = service.get_container_client(audit_container)

    @classmethod
    def connect(
        cls,
        *,
        raw_container: str,
        audit_container: str,
        connection_string: str | None = None,
        account_url: str = "",
        credential: Any = None,
    ) -> AzureBlobStore:
        """Clients only (no I/O); ``ensure_containers`` creates what is missing (dev only)."""
        # Few, quick retries: ingest must answer UNAVAILABLE fast rather than hang on a
        # storage outage (the caller retries the whole request).
        policy: dict[str, Any] = {
            "retry_policy": LinearRetry(backoff=1, retry_total=2, random_jitter_range=1),
            "connection_timeout": 3,
            "read_timeout": 20,
        }
        if connection_string:
            service = BlobServiceClient.from_connection_string(connection_string, **policy)
        else:
            service = BlobServiceClient(account_url, credential=credential, **policy)
        return cls(service, raw_container, audit_container)

    async def ensure_containers(self) -> None:
        async with unavailable_on_failure("create containers"):
            for container in (self._raw, self._audit):
                try:
                    await container.create_container()
                except ResourceExistsError:
                    pass

    async def put_raw(self, raw: RawPayload) -> None:
        async with unavailable_on_failure("store raw payload"):
            try:
                await self._raw.upload_blob(
                    raw.id, raw.body, overwrite=False, metadata=_metadata(raw)
                )
            except ResourceExistsError:
                existing = await self.get_raw(raw.id)
                if existing is None or existing.sha256 != raw.sha256:
                    raise AlreadyExists(
                        f"raw payload {raw.id} exists with other content", reason="RAW_CONFLICT"
                    ) from None

    async def get_raw(self, raw_payload_id: str) -> RawPayload | None:
        async with unavailable_on_failure("read raw payload"):
            try:
                downloader = await self._raw.download_blob(raw_payload_id)
                body = await downloader.readall()
            except ResourceNotFoundError:
                return None
        return _payload(raw_payload_id, body, dict(downloader.properties.metadata or {}))

    async def put_audit_export(self, name: str, data: bytes) -> None:
        async with unavailable_on_failure("audit export"):
            try:
                await self._audit.upload_blob(name, data, overwrite=False)
            except ResourceExistsError:
                raise AlreadyExists(f"audit export {name} exists", reason="AUDIT_IMMUTABLE") from None

    async def aclose(self) -> None:
        await self._service.close()


class LocalBlobStore:
    """The same contract on a local directory (``OMEGA_BLOBS=local``): write to a temporary
    file, fsync, rename, so a payload is either fully there or absent."""

    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, kind: str, name: str) -> Path:
        safe = name.replace("/", "_")
        return self._root / kind / safe

    def _write_once(self, path: Path, data: bytes, meta: dict[str, str] | None) -> bool:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            return False
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if meta is not None:
            path.with_suffix(".meta").write_text(json.dumps(meta))
        os.link(tmp, path)  # fails if another writer won: create-only
        tmp.unlink()
        return True

    async def put_raw(self, raw: RawPayload) -> None:
        path = self._path("raw", raw.id)
        try:
            written = await asyncio.to_thread(self._write_once, path, raw.body, _metadata(raw))
        except FileExistsError:
            written = False
        if not written:
            existing = await self.get_raw(raw.id)
            if existing is None or existing.sha256 != raw.sha256:
                raise AlreadyExists(f"raw payload {raw.id} exists with other content", reason="RAW_CONFLICT")

    async def get_raw(self, raw_payload_id: str) -> RawPayload | None:
        path = self._path("raw", raw_payload_id)

        def read() -> RawPayload | None:
            try:
                body = path.read_bytes()
                meta = json.loads(path.with_suffix(".meta").read_text())
            except FileNotFoundError:
                return None
            return _payload(raw_payload_id, body, meta)

        return await asyncio.to_thread(read)

    async def put_audit_export(self, name: str, data: bytes) -> None:
        try:
            written = await asyncio.to_thread(self._write_once, self._path("audit", name), data, None)
        except FileExistsError:
            written = False
        if not written:
            raise AlreadyExists(f"audit export {name} exists", reason="AUDIT_IMMUTABLE")

    async def aclose(self) -> None:
        return None


def new_raw(raw_id: str, tenant: str, source: str, body: bytes, received_via: str) -> RawPayload:
    return RawPayload(
        raw_id, tenant, source, received_via, body, time.time(), hashlib.sha256(body).hexdigest()
    )
