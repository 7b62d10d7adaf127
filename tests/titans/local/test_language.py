"""Language detection: English and German recognised, other languages named, not guessed."""

from __future__ import annotations

from titans.local.language import UNDETERMINED, LanguageDetector


def test_detects_english_and_german() -> None:
    d = LanguageDetector()
    assert d.detect("My printer is not working, please help").code == "en"
    assert d.detect("Der Drucker funktioniert nicht, bitte um Hilfe").code == "de"
    assert d.detect("Passwort zurücksetzen, ich kann mich nicht anmelden").code == "de"


def test_names_other_languages() -> None:
    d = LanguageDetector()
    assert d.detect("Bonjour, mon imprimante ne fonctionne pas, merci").code == "fr"
    assert d.detect("Hola, mi impresora no funciona, gracias").code == "es"


def test_no_evidence_is_undetermined() -> None:
    assert LanguageDetector().detect("srv-db01 cpu 98% 10.0.0.12").code == UNDETERMINED
