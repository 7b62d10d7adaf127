"""A small offline language detector: stop-word and helpdesk-word profiles plus letter cues.

Good enough to tell English, German, French, Spanish, Italian, Dutch and Portuguese tickets apart;
returns ``und`` (undetermined) when a text has no evidence either way (codes, host names, ...).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

UNDETERMINED = "und"

_WORDS: dict[str, str] = {
    "en": (
        "the and is are was were to of in on for with this that it not no can cannot can't i my "
        "we our you your please thanks thank hi hello dear regards kind best issue unable user "
        "users password error access request need needs help working work does doesn't from have "
        "has be will would could should there when after before new account printer laptop email "
        "install installed screen login log reset problem update team hello morning"
    ),
    "de": (
        "der die das und ist nicht ich wir sie es ein eine einen mit für fuer auf im in zu von "
        "bitte danke hallo guten tag morgen gruß grüße gruss gruesse freundlichen mfg sehr geehrte "
        "geehrter kann können koennen funktioniert geht leider kein keine seit wurde werden habe "
        "hat mein meine unser unsere drucker passwort kennwort fehler zugang anmelden anmeldung "
        "benutzer rechner bildschirm neuen neue neu hilfe dringend ausfall störung stoerung mehr "
        "noch auch aber oder wenn dass wird sind nach beim"
    ),
    "fr": (
        "le la les et est ne pas je nous vous il elle une des du sur pour avec dans bonjour merci "
        "cordialement imprimante mot passe fonctionne marche plus mon ma mes notre votre erreur "
        "accès compte utilisateur écran nouveau besoin aide depuis"
    ),
    "es": (
        "el la los las y es no yo nosotros usted una unos del por para con en hola gracias "
        "saludos favor funciona contraseña impresora mi mis nuestro error acceso cuenta usuario "
        "pantalla nuevo necesito ayuda desde correo"
    ),
    "it": (
        "il lo la gli le e è non io noi voi una del della per con nel ciao grazie saluti "
        "cordiali stampante funziona mio mia errore accesso utente schermo nuovo aiuto buongiorno"
    ),
    "nl": (
        "de het een en is niet ik wij jij u van voor met op in hallo bedankt dank groeten "
        "vriendelijke printer wachtwoord werkt mijn fout toegang gebruiker scherm nieuwe hulp"
    ),
    "pt": (
        "o a os as e é não eu nós você uma do da para com em olá obrigado obrigada cumprimentos "
        "impressora senha funciona meu minha erro acesso usuário utilizador tela ecrã novo ajuda"
    ),
}
_LETTER_CUES: dict[str, str] = {
    "ß": "de",
    "ä": "de",
    "ö": "de",
    "ü": "de",
    "ñ": "es",
    "¿": "es",
    "¡": "es",
    "ç": "fr",
    "œ": "fr",
    "ê": "fr",
    "è": "fr",
    "à": "fr",
    "ã": "pt",
    "õ": "pt",
    "ì": "it",
    "ò": "it",
}
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


@dataclass(frozen=True)
class LanguageGuess:
    """Detected language (ISO 639-1 code or ``und``) and the share of evidence behind it."""

    code: str
    confidence: float


class LanguageDetector:
    """Scores a text against per-language word profiles; no data files, no network."""

    def __init__(self, extra_words: dict[str, str] | None = None) -> None:
        words = dict(_WORDS)
        for code, more in (extra_words or {}).items():
            words[code] = f"{words.get(code, '')} {more}"
        self._lexicon: dict[str, frozenset[str]] = {
            code: frozenset(text.split()) for code, text in words.items()
        }

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages the detector can name."""
        return tuple(self._lexicon)

    def detect(self, text: str) -> LanguageGuess:
        """Guess the language of ``text``; ``und`` when there is no evidence."""
        tokens = _TOKEN.findall(text.lower())
        scores = dict.fromkeys(self._lexicon, 0.0)
        for token in tokens:
            for code, lexicon in self._lexicon.items():
                if token in lexicon:
                    scores[code] += 1.0
        for char in text.lower():
            cue = _LETTER_CUES.get(char)
            if cue is not None:
                scores[cue] += 0.5
        total = sum(scores.values())
        if total < 1.0:
            return LanguageGuess(UNDETERMINED, 0.0)
        best = max(scores, key=lambda code: scores[code])
        return LanguageGuess(best, scores[best] / total)
