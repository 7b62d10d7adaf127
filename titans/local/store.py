"""Versioned on-disk model store: ``models_dir/<tenant>/<version>/`` plus a ``current`` pointer.

A model file records the tenant it was trained for; loading checks it, so a model can never be
served to another tenant even if files are copied or a pointer is edited by hand.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import time
from pathlib import Path

import joblib

from titans.local.model import TriageModel

logger = logging.getLogger(__name__)

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
CURRENT = "current"
PROMOTIONS = "promotions.jsonl"


class TenantMismatchError(PermissionError):
    """A model was requested for a tenant other than the one it was trained for."""


class ModelNotFoundError(FileNotFoundError):
    """The tenant has no (promoted) model."""


class NotAModelError(ValueError):
    """A model file that cannot be read or holds something other than a ``TriageModel``."""


class PromotionConflict(RuntimeError):
    """``current`` was no longer the version the caller compared against (another training run
    or an operator promoted meanwhile); nothing was changed."""

    def __init__(self, tenant: str, expected: str | None, found: str | None) -> None:
        super().__init__(
            f"tenant {tenant}: the current model is {found or 'none'}, not "
            f"{expected or 'none'} as expected; not promoted"
        )
        self.expected = expected
        self.found = found


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY: object = _Any()
"""``promote(expected=ANY)``: replace ``current`` whatever it is (an operator's promotion)."""


def check_version(version: str) -> str:
    """Validate a version id for use as a folder name (no separators, no ``..``)."""
    if not _VERSION.match(version) or ".." in version:
        raise ValueError(f"invalid model version: {version!r}")
    return version


def check_tenant(tenant: str) -> str:
    """Validate a tenant id for use as a folder name."""
    if not _TENANT.match(tenant) or tenant in {".", ".."}:
        raise ValueError(f"invalid tenant id: {tenant!r}")
    return tenant


def save_model_dir(
    model: TriageModel, folder: Path, extra: dict[str, object] | None = None
) -> None:
    """Write ``model.joblib`` + ``meta.json`` into ``folder`` atomically (temp names, then rename)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{MODEL_FILE}.tmp"
    joblib.dump(model, tmp, compress=3)
    os.replace(tmp, folder / MODEL_FILE)
    meta = {**model.summary(), **(extra or {})}
    tmp_meta = folder / f".{META_FILE}.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp_meta, folder / META_FILE)


def load_model_dir(folder: Path, tenant: str | None = None) -> TriageModel:
    """Load a model folder; with ``tenant`` given, refuse a model trained for anyone else."""
    path = folder / MODEL_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"no model in {folder}")
    try:
        model = joblib.load(path)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - unpickling a damaged file can raise anything
        raise NotAModelError(f"{path} is not a readable model ({type(exc).__name__})") from exc
    if not isinstance(model, TriageModel):
        raise NotAModelError(f"{path} is not a TriageModel")
    if tenant is not None and model.tenant != tenant:
        raise TenantMismatchError(f"model {model.version!r} belongs to another tenant")
    return model


def promotion_line(version: str, previous: str | None, reason: str, by: str) -> str:
    """One line of a tenant's promotion log (JSON, newline-terminated)."""
    entry = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "version": version,
        "previous": previous,
        "reason": reason,
        "by": by,
    }
    return json.dumps(entry, sort_keys=True) + "\n"


def parse_promotions(text: str) -> list[dict[str, object]]:
    """A promotion log's entries, oldest first (unreadable lines are skipped)."""
    out = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


class ModelStore:
    """Per-tenant model versions with an atomically replaced ``current`` pointer."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def tenant_dir(self, tenant: str) -> Path:
        return self.root / check_tenant(tenant)

    def new_version(self, tenant: str) -> str:
        """A time-sortable version id, unique across tenants (random suffix). Milliseconds keep
        versions made within one second in order (and sort after older ids without them)."""
        now = time.time()
        base = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
        existing = set(self.versions(tenant))
        while True:
            version = f"{base}-{secrets.token_hex(3)}"
            if version not in existing:
                return version

    def versions(self, tenant: str) -> list[str]:
        folder = self.tenant_dir(tenant)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / MODEL_FILE).is_file())

    def current_version(self, tenant: str, *, fresh: bool = False) -> str | None:
        """The version that serves (``fresh``: bypass any cache; a folder has none)."""
        pointer = self.tenant_dir(tenant) / CURRENT
        if not pointer.is_file():
            return None
        version = pointer.read_text(encoding="utf-8").strip()
        return version or None

    def save(self, model: TriageModel, extra: dict[str, object] | None = None) -> Path:
        """Store a model under its tenant and version (not promoted)."""
        folder = self.tenant_dir(model.tenant) / model.version
        save_model_dir(model, folder, extra)
        return folder

    def promote(
        self,
        tenant: str,
        version: str,
        *,
        reason: str = "",
        by: str = "",
        expected: str | None | object = ANY,
    ) -> None:
        """Point ``current`` at ``version`` and append the change to the tenant's promotion log
        (``promotions.jsonl``: when, from which version, to which, why and by whom).

        With ``expected`` (a version, or None for "no model yet") this is a compare-and-set:
        if ``current`` is something else by now, ``PromotionConflict`` is raised and nothing
        changes, so a training run never overrides a promotion or roll-back it did not see.
        Processes on this host serialise on a lock file; the log's ``previous`` is exact.
        """
        folder = self.tenant_dir(tenant)
        if not (folder / check_version(version) / MODEL_FILE).is_file():
            raise ModelNotFoundError(f"no version {version} for this tenant")
        with (folder / f".{CURRENT}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            previous = self.current_version(tenant)
            if expected is not ANY and previous != expected:
                raise PromotionConflict(tenant, expected, previous)  # type: ignore[arg-type]
            tmp = folder / f".{CURRENT}.tmp"
            tmp.write_text(version, encoding="utf-8")
            os.replace(tmp, folder / CURRENT)
            with (folder / PROMOTIONS).open("a", encoding="utf-8") as fh:
                fh.write(promotion_line(version, previous, reason, by))
        logger.info("promoted model version %s (was %s): %s", version, previous, reason)

    def promotions(self, tenant: str) -> list[dict[str, object]]:
        """The tenant's promotion log, oldest first (unreadable lines are skipped)."""
        path = self.tenant_dir(tenant) / PROMOTIONS
        return parse_promotions(path.read_text(encoding="utf-8")) if path.is_file() else []

    def meta(self, tenant: str, version: str) -> dict[str, object]:
        """The version's ``meta.json`` (summary and how it was made); {} when unreadable."""
        path = self.tenant_dir(tenant) / check_version(version) / META_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, tenant: str, version: str | None = None) -> TriageModel:
        """Load the tenant's current (or a given) version; never another tenant's model."""
        version = version or self.current_version(tenant)
        if version is None:
            raise ModelNotFoundError("tenant has no current model")
        model = self._read_model(tenant, check_version(version))
        if model.version != version:
            raise TenantMismatchError(
                f"model file claims version {model.version!r}, expected {version!r}"
            )
        return model

    def _read_model(self, tenant: str, version: str) -> TriageModel:
        """The stored model file of ``version`` (refused if it was trained for another tenant)."""
        return load_model_dir(self.tenant_dir(tenant) / version, tenant=tenant)
