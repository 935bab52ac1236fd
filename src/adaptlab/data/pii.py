"""PII findings in text: Presidio's predefined pattern recognizers, called directly so no spaCy model is needed.

Each recognizer runs only on text that could hold its entity (a cheap necessary condition, its gate: an `@` for
e-mail, seven digits in a row, separators allowed, for a phone number), which keeps the scan at thousands of rows per
second; the recognizers themselves (checksums such as Luhn and the IBAN mod-97 included) decide. A whole row is
first tested with ROW_PREFILTERS, four scans that every gate implies, instead of all seven gates. Gates start with a
digit or a literal where they can: `re` then skips ahead to those characters instead of trying every position.
Findings never carry the matched value.
"""

import re
from dataclasses import dataclass
from functools import cached_property

# Presidio's entity type -> the name adaptlab reports and the placeholder `redact` writes (<EMAIL>).
ENTITY_NAMES = {
    "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "SECRET": "SECRET",
}
PII_TYPES = tuple(ENTITY_NAMES.values())
MIN_SCORE = 0.4  # Presidio's scores without context words: phone 0.4, IP 0.6, SSN 0.5; its "very weak" guesses 0.05

# Known API-key prefixes and private-key blocks: Presidio has no predefined recognizer for them, so they are
# Presidio `Pattern`s in a `PatternRecognizer`, its documented way to add an entity.
SECRET_PATTERNS = {
    "private key block": r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
    "AWS access key id": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "GitHub token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "GitHub fine-grained token": r"\bgithub_pat_[A-Za-z0-9_]{60,}\b",
    "OpenAI / Anthropic key": r"\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}",
    "Stripe secret key": r"\b[rs]k_live_[0-9A-Za-z]{20,}\b",
    "Slack token": r"\bxox[abposr]-[0-9A-Za-z-]{10,}",
    "Google API key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "Hugging Face token": r"\bhf_[A-Za-z0-9]{30,}\b",
}
# A dotted quad right after one of these words is a version, not an address ("version 1.2.3.4").
VERSION_WORDS = re.compile(r"(?:\bversion|\bv|\brelease|\bbuild|\bfirmware|\brev)\.?\s*$", re.IGNORECASE)
VERSION_CONTEXT_CHARS = 12
# phonenumbers accepts "0.3571428571" as a number of some region; one decimal point makes it a decimal, not a phone
DECIMAL = re.compile(r"\d+\.\d+")

# Gates: what text must contain before a recognizer can match (looser than the recognizers' own patterns); a
# recognizer runs when any of its gates matches.
EMAIL_GATES = (r"@",)
PHONE_GATES = (r"\d(?:[ ().\-/]{0,2}\d){6}",)
CARD_GATES = (r"\d(?:[ -]?\d){11}",)
IBAN_GATES = (r"\d\d(?<=[A-Za-z]{2}\d\d)",)  # two letters, then two digits
IP_GATES = (r"\d\.\d{1,3}\.\d", r":[0-9A-Fa-f]{0,4}:")  # IPv4, IPv6
SSN_GATES = (r"\d\d\d[- .]\d\d[- .]\d\d\d\d",)
SECRET_GATES = (r"PRIVATE KEY|AKIA|ASIA|gh[pousr]_|github_pat_|sk-|k_live_|xox[abposr]-|AIza|hf_",)
# A row may hold a finding only if one of these matches: e-mail, IPv6 and secrets as above, and the digit gates in
# one scan (the card and SSN gates' digit runs contain the phone gate's seven digits; then IBAN and IPv4).
ROW_PREFILTERS = (
    *EMAIL_GATES,
    IP_GATES[1],
    *SECRET_GATES,
    r"\d(?:(?:[ ().\-/]{0,2}\d){6}|(?<=[A-Za-z]{2}\d)\d|\.\d{1,3}\.\d)",
)


@dataclass(frozen=True)
class PiiFinding:
    """Where a finding is, never what it says."""

    pii_type: str  # one of PII_TYPES
    start: int
    end: int


@dataclass(frozen=True)
class _Gated:
    """A recognizer and the conditions text must meet (any of them) before it can match anything."""

    recognizer: object
    gates: tuple[re.Pattern, ...]

    def may_match(self, text: str) -> bool:
        return any(gate.search(text) is not None for gate in self.gates)


class PiiScanner:
    """Finds e-mail addresses, phone numbers, Luhn-valid card numbers, IBANs, IP addresses, US SSNs and secrets.
    `prefilter=False` runs every recognizer on every text: the same findings, slower (the gates' test)."""

    def __init__(self, prefilter: bool = True):
        self.prefilter = prefilter

    @cached_property
    def _recognizers(self) -> list[_Gated]:
        from presidio_analyzer import Pattern, PatternRecognizer
        from presidio_analyzer.predefined_recognizers import (
            CreditCardRecognizer,
            IbanRecognizer,
            IpRecognizer,
            PhoneRecognizer,
            UsSsnRecognizer,
        )

        secrets = PatternRecognizer(
            supported_entity="SECRET",
            patterns=[Pattern(name, regex, 1.0) for name, regex in SECRET_PATTERNS.items()],
            global_regex_flags=0,
        )
        gates = (EMAIL_GATES, PHONE_GATES, CARD_GATES, IBAN_GATES, IP_GATES, SSN_GATES, SECRET_GATES)
        recognizers = (
            _offline_email_recognizer(), PhoneRecognizer(), CreditCardRecognizer(), IbanRecognizer(), IpRecognizer(), UsSsnRecognizer(), secrets
        )
        return [
            _Gated(recognizer, _compiled(recognizer_gates if self.prefilter else ("",)))
            for recognizer, recognizer_gates in zip(recognizers, gates, strict=True)
        ]

    @cached_property
    def _row_prefilters(self) -> tuple[re.Pattern, ...]:
        return _compiled(ROW_PREFILTERS if self.prefilter else ("",))

    def may_find(self, text: str) -> bool:
        """False when no prefilter passes: text (e.g. a whole row) certainly holds no finding."""
        return any(prefilter.search(text) is not None for prefilter in self._row_prefilters)

    def scan(self, text: str) -> list[PiiFinding]:
        """Findings in text order; where two overlap, the more certain one (then the longer one) wins."""
        results = [
            result
            for gated in self._recognizers
            if gated.may_match(text)
            for result in gated.recognizer.analyze(text, gated.recognizer.supported_entities, None)
            if result.score >= MIN_SCORE and not _is_look_alike(text, result)
        ]
        kept: list = []
        for result in sorted(results, key=lambda r: (-r.score, r.start - r.end, r.start)):
            if all(result.end <= other.start or result.start >= other.end for other in kept):
                kept.append(result)
        return sorted(
            (PiiFinding(ENTITY_NAMES[result.entity_type], result.start, result.end) for result in kept),
            key=lambda finding: finding.start,
        )


def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    return tuple(re.compile(pattern) for pattern in patterns)


def redact(text: str, findings: list[PiiFinding]) -> str:
    """Each finding replaced by its typed placeholder, e.g. `<EMAIL>`; findings must not overlap."""
    pieces, position = [], 0
    for finding in sorted(findings, key=lambda f: f.start):
        pieces += [text[position : finding.start], f"<{finding.pii_type}>"]
        position = finding.end
    return "".join([*pieces, text[position:]])


def _is_look_alike(text: str, result) -> bool:
    """A version number that looks like an IP address, a decimal number that looks like a phone number."""
    if result.entity_type == "PHONE_NUMBER":
        return DECIMAL.fullmatch(text[result.start : result.end].strip("()+- ")) is not None
    if result.entity_type == "IP_ADDRESS":
        return VERSION_WORDS.search(text[max(0, result.start - VERSION_CONTEXT_CHARS) : result.start]) is not None
    return False


def _offline_email_recognizer():
    """Presidio's e-mail recognizer checks the domain with tldextract, which by default fetches the public suffix
    list over the network; this one uses the list tldextract ships (its documented offline mode)."""
    import tldextract
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    offline_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return offline_extract(pattern_text).fqdn != ""

    return OfflineEmailRecognizer()
