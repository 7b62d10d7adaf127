"""The shadow team: one shadow agent per technician, proposals, runbooks, write-back, learning."""
