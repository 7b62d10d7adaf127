"""PSA/RMM connectors: recognise, identify, normalize and verify vendor payloads.

Entry points: ``connectors.registry`` (parse_payload, detect_source, identify, normalize) and
``connectors.signatures`` (webhook signature checks). See docs/connectors.md.
"""
