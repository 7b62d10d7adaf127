"""Federation Core: capability routing and service discovery (omega.federation.v1)."""
