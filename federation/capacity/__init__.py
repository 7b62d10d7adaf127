"""Capacity Manager: team sizes from queue metrics, and KEDA's external scaler (omega.capacity.v1)."""
