"""Agent Registry: agent cards, leases, lifecycle and watches (omega.registry.v1)."""
