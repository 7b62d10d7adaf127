"""PII redaction before embedding and storage."""

from __future__ import annotations

from context.redaction import Redactor, subject_hash


def test_redacts_emails_phones_credentials_cards_and_ips() -> None:
    text = (
        "User jane.doe@contoso.com called from +1 (555) 123-4567; password: Hunter2! "
        "card 4111 1111 1111 1111 from host 10.0.0.12, api_key=sk_live_abc123"
    )
    red = Redactor().redact(text)
    for secret in ("jane.doe", "555", "Hunter2", "4111", "10.0.0.12", "sk_live_abc123"):
        assert secret not in red.text
    for placeholder in ("[EMAIL]", "[PHONE]", "[SECRET]", "[CARD]", "[IP]"):
        assert placeholder in red.text
    assert red.emails == ("jane.doe@contoso.com",)
    assert red.count >= 6


def test_keeps_error_codes_and_non_luhn_numbers() -> None:
    text = "Outlook error 0x80070005 after KB5034441; order 1234567890123 shipped"
    red = Redactor().redact(text)
    assert "0x80070005" in red.text
    assert "KB5034441" in red.text
    assert "1234567890123" in red.text or "[PHONE]" in red.text
    assert "[CARD]" not in red.text


def test_redacts_marked_names_whole_and_in_parts() -> None:
    red = Redactor().redact("Ticket from John Smith. Smith says john cannot log in.", ["John Smith"])
    assert "John" not in red.text and "Smith" not in red.text and "john" not in red.text
    assert red.text.count("[NAME]") >= 3


def test_ips_can_be_kept() -> None:
    assert "10.1.2.3" in Redactor(redact_ips=False).redact("gateway 10.1.2.3 down").text


def test_subject_hash_ignores_case_and_depends_on_salt() -> None:
    assert subject_hash("Jane@X.com ", "s") == subject_hash("jane@x.com", "s")
    assert subject_hash("jane@x.com", "s") != subject_hash("jane@x.com", "t")
