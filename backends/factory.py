"""Pick the storage adapters from settings (OMEGA_BUS, OMEGA_DOCUMENTS, OMEGA_BLOBS, …).

The embedded default is one SQLite database in the data directory. With
``OMEGA_DOCUMENTS=cosmos`` the store is a ``CompositeStore``: Cosmos DB documents, raw payloads
in Blob Storage (``OMEGA_BLOBS=azure``) or a local directory, and the bus named by
``OMEGA_BUS`` (Redis Streams or Service Bus). Opening does no I/O; the composite store
creates emulator containers (when asked) and starts its outbox reconciler in ``start()``,
which ``bus.release_all_leases()`` (called once by the mesh at start-up) also triggers.
"""

from __future__ import annotations

from typing import Any

from backends.settings import BackendSettings
from backends.sqlite.adapters import EmbeddedStore
from federation.errors import FailedPrecondition
from mesh.settings import OmegaSettings


def _azure_credential(backends: BackendSettings) -> Any:
    from azure.identity.aio import DefaultAzureCredential  # workload identity on AKS

    return DefaultAzureCredential()


def open_model_store(settings: OmegaSettings, backends: BackendSettings | None = None) -> Any:
    """Where tenants' triage models live (``OMEGA_MODELS``): ``DATA_DIR/models`` (embedded) or
    the Blob container every triage pod and ``omega model train`` share (production)."""
    from titans.local.store import ModelStore

    backends = backends if backends is not None else BackendSettings()
    root = settings.data_dir / "models"
    if backends.models == "local":
        return ModelStore(root)
    from backends.azure_blob.model_store import BlobModelStore

    if not (backends.blob_connection_string or backends.blob_account_url):
        raise FailedPrecondition(
            "OMEGA_MODELS=blob needs OMEGA_BLOB_ACCOUNT_URL (or OMEGA_BLOB_CONNECTION_STRING)",
            reason="BAD_SETTINGS",
        )
    credential = None
    if backends.blob_connection_string is None:
        from azure.identity import DefaultAzureCredential  # sync: models load in threads

        credential = DefaultAzureCredential()
    store = BlobModelStore.connect(
        container=backends.blob_models_container,
        root=root,
        connection_string=(
            backends.blob_connection_string.get_secret_value()
            if backends.blob_connection_string is not None
            else None
        ),
        account_url=backends.blob_account_url,
        credential=credential,
        pointer_ttl_s=backends.models_pointer_ttl_s,
    )
    if backends.blob_create_containers:
        store.ensure_container()
    return store


def open_bus(backends: BackendSettings) -> Any:
    """The bus adapter named by ``OMEGA_BUS`` (not SQLite: that one shares the embedded DB)."""
    if backends.bus == "redis":
        from backends.redis.bus import RedisStreamsBus, connect

        client = connect(
            backends.redis_host,
            backends.redis_port,
            password=backends.redis_password.get_secret_value() if backends.redis_password else None,
            ssl=backends.redis_ssl,
        )
        return RedisStreamsBus(client, prefix=backends.redis_prefix, group=backends.bus_consumer)
    if backends.bus == "servicebus":
        from backends.servicebus.bus import ServiceBusBus

        if backends.servicebus_connection_string is not None:
            return ServiceBusBus.from_connection_string(
                backends.servicebus_connection_string.get_secret_value(),
                consumer=backends.bus_consumer,
                subscriptions=backends.servicebus_subscriptions,
            )
        if not backends.servicebus_fqdn:
            raise FailedPrecondition("OMEGA_BUS=servicebus needs OMEGA_SERVICEBUS_FQDN", reason="BAD_SETTINGS")
        return ServiceBusBus.from_credential(
            backends.servicebus_fqdn,
            _azure_credential(backends),
            consumer=backends.bus_consumer,
            subscriptions=backends.servicebus_subscriptions,
        )
    raise FailedPrecondition(
        f"OMEGA_BUS={backends.bus} cannot be combined with OMEGA_DOCUMENTS={backends.documents}",
        reason="BAD_SETTINGS",
    )


def open_store(settings: OmegaSettings, backends: BackendSettings | None = None) -> Any:
    """The store the mesh runs on: ``bus``, ``journal``, ``tickets``, ``dead_letters``,
    ``timeline`` and ``features`` ports, plus ``close()`` (and ``aclose()`` on the composite).

    ``backends`` defaults to ``BackendSettings()`` (read once from the OMEGA_ environment)."""
    backends = backends if backends is not None else BackendSettings()
    if backends.documents == "sqlite":
        if backends.bus != "sqlite":
            raise FailedPrecondition(
                "the embedded store queues work in its own database: OMEGA_BUS=sqlite"
                " unless OMEGA_DOCUMENTS=cosmos",
                reason="BAD_SETTINGS",
            )
        return EmbeddedStore.open(settings.data_dir / "omega.db")

    from backends.azure_blob.blobs import AzureBlobStore, LocalBlobStore
    from backends.composite import CompositeStore
    from backends.cosmos.documents import CosmosDocuments
    from backends.sqlite.database import SqliteDatabase

    if not backends.cosmos_endpoint:
        raise FailedPrecondition("OMEGA_DOCUMENTS=cosmos needs OMEGA_COSMOS_ENDPOINT", reason="BAD_SETTINGS")
    bus = open_bus(backends)  # validates the combination before any client is made
    cosmos_credential = (
        backends.cosmos_key.get_secret_value()
        if backends.azure_auth == "key" and backends.cosmos_key is not None
        else _azure_credential(backends)
    )
    docs = CosmosDocuments.connect(backends.cosmos_endpoint, cosmos_credential, backends.cosmos_database)
    blobs: Any
    if backends.blobs == "azure":
        blobs = AzureBlobStore.connect(
            raw_container=backends.blob_raw_container,
            audit_container=backends.blob_audit_container,
            connection_string=(
                backends.blob_connection_string.get_secret_value()
                if backends.blob_connection_string is not None
                else None
            ),
            account_url=backends.blob_account_url,
            credential=None if backends.blob_connection_string else _azure_credential(backends),
        )
    else:
        blobs = LocalBlobStore(settings.data_dir / "blobs")
    # Components that still keep tables of their own (the shadow team) use a local database.
    local = SqliteDatabase(settings.data_dir / "local.db")
    local.start()
    return CompositeStore(
        docs=docs,
        blobs=blobs,
        bus=bus,
        local_db=local,
        outbox_interval_s=backends.outbox_interval_s,
        outbox_grace_s=backends.outbox_grace_s,
        create_containers=backends.cosmos_create_containers,
        create_blob_containers=backends.blob_create_containers,
    )
