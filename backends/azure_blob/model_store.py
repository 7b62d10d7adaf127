"""Tenants' model versions in Azure Blob Storage: the store every triage pod and
``omega model train`` share in production (``OMEGA_MODELS=blob``).

Same contract as ``titans.local.store.ModelStore`` (the local-folder store of the embedded mesh),
laid out the same way in one container::

    <tenant>/<version>/model.joblib   written once, never overwritten (a version is immutable)
    <tenant>/<version>/meta.json
    <tenant>/current                  the version that serves; replaced by a promotion
    <tenant>/promotions.jsonl         append blob: every promotion and roll-back

A pod reads ``current`` at most once per ``pointer_ttl_s`` per tenant (the triager asks for it
on every ticket), so a promotion reaches every pod within that time, without a restart. If Blob
Storage cannot be reached, a pod keeps serving the version it knows (and says so in the log);
with none known, it answers UNAVAILABLE. A version is downloaded once, into a scratch folder
under ``root``, loaded (the model file records its tenant and version; ``load`` checks both),
and deleted: the model lives in the process, the pod's disk holds no copies.

Synchronous SDK: the triager runs in worker threads, not on the event loop.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import BlobServiceClient, ContainerClient, LinearRetry

from federation.errors import Unavailable
from titans.local.model import TriageModel
from titans.local.store import (
    ANY,
    CURRENT,
    META_FILE,
    MODEL_FILE,
    PROMOTIONS,
    ModelNotFoundError,
    ModelStore,
    PromotionConflict,
    check_tenant,
    check_version,
    load_model_dir,
    parse_promotions,
    promotion_line,
    save_model_dir,
)

log = logging.getLogger(__name__)

_FAILURES = (HttpResponseError, ServiceRequestError, ServiceResponseError)


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    try:
        yield
    except (ResourceNotFoundError, ResourceExistsError, ResourceModifiedError):
        raise  # answers, not failures: the caller decides what they mean
    except _FAILURES as exc:
        raise Unavailable(
            f"model store: {what}: blob storage unavailable ({type(exc).__name__})",
            reason="STORE_UNAVAILABLE",
        ) from exc


class BlobModelStore(ModelStore):
    """``ModelStore`` over one Blob Storage container; ``root`` only holds scratch downloads."""

    def __init__(
        self, container: ContainerClient, root: Path, *, pointer_ttl_s: float = 10.0
    ) -> None:
        super().__init__(root)
        self._c = container
        self._ttl = pointer_ttl_s
        self._pointers: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def connect(
        cls,
        *,
        container: str,
        root: Path,
        connection_string: str | None = None,
        account_url: str = "",
        credential: Any = None,
        pointer_ttl_s: float = 10.0,
    ) -> BlobModelStore:
        """Clients only (no I/O); ``ensure_container`` creates the container (dev only)."""
        policy: dict[str, Any] = {
            "retry_policy": LinearRetry(backoff=1, retry_total=3, random_jitter_range=1),
            "connection_timeout": 5,
            "read_timeout": 120,  # a model is tens of MB
        }
        if connection_string:
            service = BlobServiceClient.from_connection_string(connection_string, **policy)
        else:
            service = BlobServiceClient(account_url, credential=credential, **policy)
        return cls(service.get_container_client(container), root, pointer_ttl_s=pointer_ttl_s)

    def ensure_container(self) -> None:
        with _unavailable("create container"):
            try:
                self._c.create_container()
            except ResourceExistsError:
                pass

    @staticmethod
    def _name(tenant: str, *parts: str) -> str:
        return "/".join((check_tenant(tenant), *parts))

    def _read(self, name: str) -> tuple[str | None, str | None]:
        """A blob's text and ETag; (None, None) when it does not exist."""
        with _unavailable(f"read {name}"):
            try:
                download = self._c.download_blob(name)
            except ResourceNotFoundError:
                return None, None
            return download.readall().decode("utf-8"), download.properties.etag

    def _read_text(self, name: str) -> str | None:
        return self._read(name)[0]

    def _read_pointer(self, tenant: str) -> tuple[str | None, str | None]:
        """The tenant's ``current`` version (None when it has none) and the pointer's ETag."""
        text, etag = self._read(self._name(tenant, CURRENT))
        return (text or "").strip() or None, etag

    # -- the ModelStore contract --------------------------------------------------------------
    def versions(self, tenant: str) -> list[str]:
        prefix = self._name(tenant) + "/"
        found = set()
        with _unavailable("list versions"):
            for blob in self._c.list_blobs(name_starts_with=prefix):
                version, _, file = blob.name[len(prefix) :].partition("/")
                if file == MODEL_FILE:
                    found.add(version)
        return sorted(found)

    def current_version(self, tenant: str, *, fresh: bool = False) -> str | None:
        now = time.monotonic()
        cached = self._pointers.get(tenant)
        if cached is not None and now - cached[0] < self._ttl and not fresh:
            return cached[1]
        try:
            version = self._read_pointer(tenant)[0]
        except Unavailable:
            if cached is None:
                raise
            log.warning("model store unreachable; tenant %s keeps serving %s", tenant, cached[1])
            self._pointers[tenant] = (now, cached[1])  # ask again after another TTL
            return cached[1]
        self._pointers[tenant] = (now, version)
        return version

    def save(self, model: TriageModel, extra: dict[str, object] | None = None) -> Path:
        """Upload a new version (never overwrites one: versions are immutable)."""
        check_version(model.version)
        with self._scratch() as folder:
            save_model_dir(model, folder, extra)
            with _unavailable(f"upload {model.version}"):
                # meta.json last: a version is listed (by its model file) once both are there.
                for file in (MODEL_FILE, META_FILE):
                    with (folder / file).open("rb") as fh:
                        self._c.upload_blob(
                            self._name(model.tenant, model.version, file), fh, overwrite=False
                        )
        return self.tenant_dir(model.tenant) / model.version

    def promote(
        self,
        tenant: str,
        version: str,
        *,
        reason: str = "",
        by: str = "",
        expected: str | None | object = ANY,
    ) -> None:
        """The folder store's contract; the pointer is replaced with a conditional write
        (If-Match on the ETag read, If-None-Match: * when there is none), so two writers can
        never both believe they replaced the same version, across pods."""
        name = self._name(tenant, check_version(version), MODEL_FILE)
        pointer = self._name(tenant, CURRENT)
        with _unavailable(f"promote {version}"):
            if not self._c.get_blob_client(name).exists():
                raise ModelNotFoundError(f"no version {version} for this tenant")
            for _attempt in range(5):
                previous, etag = self._read_pointer(tenant)
                if expected is not ANY and previous != expected:
                    raise PromotionConflict(tenant, expected, previous)  # type: ignore[arg-type]
                try:
                    if etag is None:
                        self._c.upload_blob(pointer, version.encode("utf-8"), overwrite=False)
                    else:
                        self._c.upload_blob(
                            pointer,
                            version.encode("utf-8"),
                            overwrite=True,
                            etag=etag,
                            match_condition=MatchConditions.IfNotModified,
                        )
                    break
                except (ResourceExistsError, ResourceModifiedError):
                    continue  # somebody wrote it meanwhile: read again, and compare again
            else:
                raise Unavailable(
                    f"model store: promote {version}: the pointer kept changing",
                    reason="STORE_CONTENTION",
                )
            with self._lock:
                self._pointers[tenant] = (time.monotonic(), version)
            self._append(
                self._name(tenant, PROMOTIONS), promotion_line(version, previous, reason, by)
            )
        log.info("promoted model version %s (was %s): %s", version, previous, reason)

    def _append(self, name: str, line: str) -> None:
        blob = self._c.get_blob_client(name)
        try:
            # Create only if missing (If-None-Match: *); this SDK version passes its own
            # etag/match_condition keywords for append blobs through to the transport.
            blob.create_append_blob(headers={"If-None-Match": "*"})
        except ResourceExistsError:
            pass  # the log exists: append to it
        blob.append_block(line.encode("utf-8"))

    def promotions(self, tenant: str) -> list[dict[str, object]]:
        text = self._read_text(self._name(tenant, PROMOTIONS))
        return parse_promotions(text) if text else []

    def meta(self, tenant: str, version: str) -> dict[str, object]:
        text = self._read_text(self._name(tenant, check_version(version), META_FILE))
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _read_model(self, tenant: str, version: str) -> TriageModel:
        name = self._name(tenant, version, MODEL_FILE)
        with self._scratch() as folder:
            with _unavailable(f"download {version}"):
                try:
                    with (folder / MODEL_FILE).open("wb") as fh:
                        self._c.download_blob(name).readinto(fh)
                except ResourceNotFoundError:
                    raise ModelNotFoundError(f"no version {version} for this tenant") from None
            return load_model_dir(folder, tenant=tenant)

    @contextmanager
    def _scratch(self) -> Iterator[Path]:
        self.root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=".blob-", dir=self.root))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
