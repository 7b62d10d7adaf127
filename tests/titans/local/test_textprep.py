"""ticket_text: the one string training and inference both see for a ticket."""

from __future__ import annotations

from titans.local.textprep import normalise_text, ticket_text


def test_title_and_description_are_joined_and_normalised() -> None:
    assert ticket_text("VPN down", "Since 9:00  nobody\nin Berlin_x000D_can connect") == (
        "vpn down . since 9:00 nobody in berlin can connect"
    )
    assert normalise_text("FÃ¼r  alle") == "für alle"


def test_a_repeated_title_is_not_embedded_twice() -> None:
    assert ticket_text("Printer jam", "printer jam") == "printer jam"
    assert ticket_text("Printer jam", "Printer jam on floor 2, tray 3 empty") == (
        "printer jam on floor 2, tray 3 empty"
    )
    assert ticket_text("", "Outlook crashes") == "outlook crashes"
    assert ticket_text("Outlook crashes", "") == "outlook crashes"
    # A description that merely mentions the title later keeps both.
    assert ticket_text("Outlook", "Since the update, Outlook crashes") == (
        "outlook . since the update, outlook crashes"
    )
