"""Typed settings that pick the storage adapters (``OMEGA_BUS``, ``OMEGA_DOCUMENTS``, …).

Read once at start-up (``BackendSettings()``) and handed to ``backends.factory.open_store``.
The names match the ones the AKS manifests set (mesh/k8s/base/config.yaml). The default is
the embedded store: one SQLite database in the data directory.
"""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The well-known, public Azurite development account (not a secret).
AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)


class BackendSettings(BaseSettings):
    """Which adapter serves each port, and how to reach it."""

    model_config = SettingsConfigDict(env_prefix="OMEGA_", frozen=True, extra="ignore")

    bus: Literal["sqlite", "redis", "servicebus"] = "sqlite"
    documents: Literal["sqlite", "cosmos"] = "sqlite"
    blobs: Literal["local", "azure"] = "local"
    # Tenants' triage model versions: the data folder (embedded) or a Blob container that every
    # triage pod and `omega model train` share (production).
    models: Literal["local", "blob"] = "local"
    cache: Literal["memory", "redis"] = "memory"
    # Azure authentication: workload identity / managed identity (DefaultAzureCredential) in
    # production; keys and connection strings only for emulators.
    azure_auth: Literal["workload-identity", "key"] = "key"

    # Redis (bus=redis, cache=redis). Keys are prefixed so that one Redis can host many.
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379
    redis_password: SecretStr | None = None
    redis_ssl: bool = False
    redis_prefix: str = "omega"
    # The consumer group reading each topic (one per deployable: the consumer's name).
    bus_consumer: str = "pipeline"

    # Azure Service Bus (bus=servicebus): topics per stage, session subscriptions per consumer.
    servicebus_fqdn: str = ""
    servicebus_connection_string: SecretStr | None = None
    # Pipeline topic → the subscription this deployable reads it from (JSON in the env var),
    # matching mesh/azure/modules/servicebus.bicep; topics not listed use OMEGA_BUS_CONSUMER.
    servicebus_subscriptions: dict[str, str] = {}

    # Cosmos DB (documents=cosmos): partition key /tenant in every container.
    cosmos_endpoint: str = ""
    cosmos_key: SecretStr | None = None
    cosmos_database: str = "omega"
    # The production identity cannot create containers (Bicep does); emulators need this on.
    cosmos_create_containers: bool = False

    # Blob Storage (blobs=azure): raw payloads, and the immutable audit-export container.
    blob_account_url: str = ""
    blob_connection_string: SecretStr | None = None
    # Names of mesh/azure/modules/storage.bicep; `audit` carries the immutability policy.
    blob_raw_container: str = "raw"
    blob_audit_container: str = "audit"
    blob_create_containers: bool = False
    # models=blob: the container of model versions, and how often a pod re-reads a tenant's
    # `current` pointer (a promotion reaches every pod within this time).
    blob_models_container: str = "models"
    models_pointer_ttl_s: float = 10.0

    # Composite store: how often the outbox reconciler re-publishes tickets whose publish
    # did not complete, and how old such a ticket must be before it counts as stuck.
    outbox_interval_s: float = 5.0
    outbox_grace_s: float = 10.0
