"""OMEGA's typed Python client over the gRPC contracts (used by the CLI, connectors and MCP)."""

from sdk.client import IngestResult, OmegaClient, RetryPolicy

__all__ = ["IngestResult", "OmegaClient", "RetryPolicy"]
