"""PII recognizers as small functions: phone numbers, card numbers, dates of birth, ages, titles, nationalities.

Each recognizer is a function ``text -> [(entity, start, end, score)]`` in :data:`RECOGNIZERS`,
wrapped into one Presidio recognizer by :func:`function_recognizers`; each is unit-tested on
plain strings. They replace Presidio's phone and credit-card recognizers, which leaked most
numbers not written the US way (a card number failing the Luhn check was dropped, a phone number
was only looked for in 8 regions and only with a context word).

* Phone numbers: runs of 6 to 15 digits joined by phone punctuation are parsed with
  ``phonenumbers`` (the library Presidio uses), with the country code when there is one and
  else for each region of ``data.pii.phone_regions``: a valid number scores 0.75, a possible one
  0.5, a phone word before it ("call", "tel", "mobile") adds 0.2.
* Card numbers: 12 to 19 digits, whole or in groups; the Luhn check raises the score (0.95), it
  does not gate it (0.6 without it): a leaked number that fails Luhn is still a leaked number.
* Amounts are not phone numbers: a decimal amount ("1993.20") or a number with a currency sign or
  code beside it is skipped.
* Order and ticket numbers are neither: after "order", "purchase", "invoice", "ticket",
  "tracking", "ref"... (three words back; misspelt by one letter just before the number) or a ``#``,
  a number is left alone unless a phone or card word is nearer.
"""

from __future__ import annotations

import functools
import re
from typing import Callable, Iterable, Sequence

Span = tuple[str, int, int, float]  # (entity, start, end, score)

DEFAULT_PHONE_REGIONS = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "PT", "PL", "SE", "NO", "DK",
                         "FI", "IE", "CZ", "HU", "RO", "TR", "IN", "AU", "NZ", "CA", "BR", "MX", "ZA", "NG", "KE"]
_PHONE_CANDIDATE = re.compile(r"(?<![\w+/.-])(?:\+|00)?\(?\d[\d\s().\-/]{4,22}\d(?![\w/-]|\.\d)")
_CARD_CANDIDATE = re.compile(r"(?<![\w+.-])\d(?:[ -]?\d){11,18}(?![\w-]|\.\d)")
_ORDER_WORDS = re.compile(r"(?:\b(?:order|orders|purchase|purchases|invoice|ticket|tracking|ref|reference|"
                          r"booking|confirmation|transaction|case|parcel|shipment|item|sku|receipt|"
                          r"serial|model)\b|#)[^\n]{0,24}$", re.IGNORECASE)
_PHONE_WORDS = re.compile(r"\b(?:call|called|phone|tel|telephone|mobile|mob|cell|whatsapp|text|sms|fax|reach|"
                          r"contact|ring|(?:my|new|phone|mobile|contact) number)\b[^\n]{0,30}$", re.IGNORECASE)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DATE_LIKE = re.compile(r"\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}[./-]\d{1,2}[./-]\d{1,2}")
# A decimal amount ("1993.20", "12,499.00") or a number next to a currency is money, not a phone number.
_AMOUNT = re.compile(r"\d{1,3}(?:([,.' ])\d{3})?(?:\1\d{3})*[.,]\d{2}|\d+[.,]\d{2}")
_CURRENCY_BEFORE = re.compile(r"(?:[$€£¥₹]|\b(?:usd|eur|gbp|chf|aud|cad|inr|rs|sek|nok|dkk|pln)\.?)[ \t]?$", re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r"[ \t]?(?:[$€£¥₹]|(?:usd|eur|gbp|chf|aud|cad|inr|sek|nok|dkk|pln|dollars?|euros?|"
                             r"pounds?)\b)", re.IGNORECASE)
_CARD_WORDS = re.compile(r"\b(?:card|visa|mastercard|amex|maestro|debit|credit|pan)\b[^\n]{0,30}$", re.IGNORECASE)


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a digit string (card numbers carry one)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def money(text: str, start: int, end: int) -> bool:
    """True when text[start:end] is an amount: decimal-shaped, or with a currency sign or code next to it."""
    return bool(_AMOUNT.fullmatch(text[start:end]) or _CURRENCY_BEFORE.search(text[max(0, start - 5):start])
                or _CURRENCY_AFTER.match(text, end))


_ORDER_KEYS = ("order", "purchase")
_NOT_ORDER = frozenset({"older", "border", "odder", "ordered", "purchased"})  # words, not slips
_LAST_WORDS = re.compile(r"(?:(?<![^\W\d_])([^\W\d_]{4,})[ \t]+)?([^\W\d_]+)[ \t]*[:#]?[ \t]*$")


def _one_edit(a: str, b: str) -> bool:
    """True when ``a`` is ``b`` with one letter changed, added, dropped or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return a == b
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    return (a[i + 1:] == b[i + 1:] or a[i + 1:] == b[i:] or a[i:] == b[i + 1:] or
            (len(a) == len(b) and a[i:i + 2] == b[i:i + 2][::-1] and a[i + 2:] == b[i + 2:]))


def _misspelt_order_word(before: str) -> re.Match | None:
    """The order word typed with one slip ("orer number", "purchsse") in the two words before a number."""
    m = _LAST_WORDS.search(before)
    for word in (m.groups() if m else ()):
        word = (word or "").lower()
        if len(word) >= 4 and word not in _NOT_ORDER and any(_one_edit(word, k) for k in _ORDER_KEYS):
            return m
    return None


def _order_context(text: str, start: int) -> bool:
    """True when an order/ticket word (or ``#``) shortly precedes ``start`` and no phone/card word is nearer.

    The order word may be misspelt by one letter ("my orer number 6930264063").
    """
    before = text[max(0, start - 40):start]
    m = _ORDER_WORDS.search(before) or _misspelt_order_word(before)
    if not m:
        return False
    near = [w.search(before) for w in (_PHONE_WORDS, _CARD_WORDS)]
    return not any(n and n.start() > m.start() for n in near)


@functools.lru_cache(maxsize=8)
def _regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(r.upper() for r in regions)


def phone_numbers(text: str, regions: Sequence[str] = DEFAULT_PHONE_REGIONS) -> list[Span]:
    """Phone numbers of any of ``regions`` (or with a country code), parsed by ``phonenumbers``."""
    import phonenumbers

    out = []
    for m in _PHONE_CANDIDATE.finditer(text):
        raw = m.group(0).rstrip(" )-./")
        digits = re.sub(r"\D", "", raw)
        if not 6 <= len(digits) <= 15 or _order_context(text, m.start()) or _DATE_LIKE.fullmatch(raw) or _IPV4.fullmatch(raw):
            continue
        if money(text, m.start(), m.start() + len(raw)):
            continue
        intl = raw.startswith(("+", "00"))
        best = 0.0
        for region in ([None] if intl else _regions(tuple(regions))):
            try:
                num = phonenumbers.parse(raw if not raw.startswith("00") else "+" + raw[2:], region)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(num):
                best = 0.75
                break
            if phonenumbers.is_possible_number(num):
                best = max(best, 0.5)
        if intl and best == 0.0 and 8 <= len(digits) <= 15:
            best = 0.5  # a country code and enough digits: a phone number even where the range is unknown
        if best == 0.0:
            continue
        if _PHONE_WORDS.search(text[max(0, m.start() - 40):m.start()]):
            best += 0.2
        if not intl and raw.isdigit() and best < 0.7:  # a bare digit run: only valid numbers or with a phone word
            continue
        out.append(("PHONE_NUMBER", m.start(), m.start() + len(raw), min(best, 1.0)))
    return out


def card_numbers(text: str) -> list[Span]:
    """Card numbers: 12 to 19 digits, whole or grouped by spaces or dashes; Luhn raises the score."""
    out = []
    for m in _CARD_CANDIDATE.finditer(text):
        raw = m.group(0)
        digits = re.sub(r"\D", "", raw)
        groups = re.split(r"[ -]", raw)
        if len(groups) > 1 and not all(3 <= len(g) <= 6 for g in groups[:-1]):
            continue  # "12 34 56 78 90 12" is a phone number's grouping, not a card's
        if _order_context(text, m.start()) and (raw.isdigit() or not luhn_ok(digits)):
            continue  # "order 374634625908": an order number, even when it passes Luhn
        if re.search(r"\+\d{1,3}[ ]?(?:\(0\)[ ]?)?\(?$", text[max(0, m.start() - 10):m.start()]):
            continue  # "+43 342990705219": the rest of a phone number after its country code
        score = 0.95 if luhn_ok(digits) else 0.6
        if _CARD_WORDS.search(text[max(0, m.start() - 40):m.start()]):
            score = max(score, 0.9)
        out.append(("CREDIT_CARD", m.start(), m.end(), score))
    return out


# compact ("DE89370400440532013000") or in groups of four ("GB82 WEST 1234 5698 7654 32")
_IBAN = re.compile(r"(?<![\w])([A-Za-z]{2}\d{2}(?:[A-Za-z0-9]{11,30}|(?:[ ][A-Za-z0-9]{4}){2,7}(?:[ ][A-Za-z0-9]{1,3})?|"
                   r"[A-Za-z0-9]{2}(?:[ ][A-Za-z0-9]{4}){2,7}(?:[ ][A-Za-z0-9]{1,3})?))(?![\w])")


def iban_ok(value: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN (spaces ignored, any case)."""
    s = re.sub(r"\s", "", value).upper()
    if not s[:2].isalpha() or not s[2:4].isdigit():
        return False
    n = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
    return int(n) % 97 == 1


def ibans(text: str) -> list[Span]:
    """IBANs in any case, grouped or not; the mod-97 check raises the score (0.95), a shape alone scores 0.6."""
    out = []
    for m in _IBAN.finditer(text):
        value = m.group(1).rstrip()
        compact = value.replace(" ", "")
        if not 15 <= len(compact) <= 34 or sum(c.isdigit() for c in compact) < 8:
            continue
        out.append(("IBAN_CODE", m.start(1), m.start(1) + len(value), 0.95 if iban_ok(value) else 0.6))
    return out


_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
           r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
DATE = (rf"(?:\d{{1,2}}[./-]\d{{1,2}}[./-](?:\d{{4}}|\d{{2}})|\d{{4}}[./-]\d{{1,2}}[./-]\d{{1,2}}|"
        rf"\d{{1,2}}(?:st|nd|rd|th)?[ ]+(?:of[ ]+)?{_MONTHS},?[ ]+\d{{4}}|{_MONTHS}[ ]+\d{{1,2}}(?:st|nd|rd|th)?,?[ ]+\d{{4}})")
_DOB = re.compile(rf"\b(?:born(?:[ ]+on)?|d\.?o\.?b\.?|date[ ]+of[ ]+birth|birth[ ]?date|birthday(?:[ ]+is)?|"
                  rf"geburtsdatum|date[ ]+de[ ]+naissance|fecha[ ]+de[ ]+nacimiento)\b[ \t]*[:\-–]?[ \t]*(?:is[ ]+|on[ ]+)?"
                  rf"({DATE})", re.IGNORECASE)
_AGE = [
    re.compile(r"\b(\d{1,3})[ -]?(?:years?|yrs?)[ -]?old\b", re.IGNORECASE),
    re.compile(r"\b(?:aged|age|ages|age is)\b[ \t]*[:\-]?[ \t]*(\d{1,3})\b(?![.,:/]\d)", re.IGNORECASE),
    re.compile(r"\b(?:i am|i'm|im|he is|she is|he's|she's|they are|is now|turned|turning|"
               r"(?:mum|mom|mother|dad|father|son|daughter|wife|husband|partner|child|grandma|grandmother|grandpa|"
               r"grandfather|brother|sister) is)[ ]+(\d{1,3})\b"
               r"(?![.,:/]\d|[ ]?(?:%|percent|dollars|euros|pounds|minutes|hours|days|weeks|months|times|items|"
               r"\$|€|£|usd|eur|gbp|am|pm))", re.IGNORECASE),
]


def dates_of_birth(text: str) -> list[Span]:
    """A date after "born", "DOB", "date of birth", "birthday"...: the date alone is the span."""
    return [("DATE_OF_BIRTH", m.start(1), m.end(1), 0.9) for m in _DOB.finditer(text)]


def ages(text: str) -> list[Span]:
    """Ages in context: "34 years old", "aged 34", "age: 34", "I'm 34" (not "I'm 34 minutes late")."""
    out = []
    for rx in _AGE:
        for m in rx.finditer(text):
            if 0 < int(m.group(1)) < 130:
                out.append(("AGE", m.start(1), m.end(1), 0.8))
    return out


TITLES = ["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "professor", "sir", "dame", "madam", "madame", "mme",
          "mlle", "herr", "frau", "sr", "sra", "srta", "sig", "sig.ra", "dott", "dott.ssa", "pan", "pani", "fru",
          "hr", "fr", "rev", "lord", "lady", "mevrouw", "meneer", "dhr", "mevr"]
_TITLE = re.compile(r"(?<![\w.])(" + "|".join(sorted((re.escape(t) for t in TITLES), key=len, reverse=True)) +
                    r")\.?(?=[ \t]+([^\W\d_][\w'’-]*))", re.IGNORECASE)
_FIELD_TITLE = re.compile(r"^[ \t]*(?:title|salutation|anrede|civilité)[ \t]*:[ \t]*([^\W\d_][\w.]{0,9})[ \t]*$",
                          re.IGNORECASE | re.MULTILINE)
_TITLE_WORDS = frozenset(t.split(".")[0] for t in TITLES)
_NOT_AFTER_TITLE = {"and", "or", "the", "a", "to", "of", "in", "on", "is", "was", "for", "at", "with"}


def titles(text: str) -> list[Span]:
    """A title before a name ("Mrs Okafor", "dr. lee", "Herr Müller"), or a form's ``Title:`` field.

    The word after the title is a name: it is returned as ``PERSON`` (0.85), which finds
    surnames NER misses.
    """
    out: list[Span] = []
    if not _word_set(text) & _TITLE_WORDS and "title" not in text.lower() and "salutation" not in text.lower():
        return out
    for m in _TITLE.finditer(text):
        word, low = m.group(2), m.group(1).lower()
        if word.lower() in _NOT_AFTER_TITLE or (len(low) <= 2 and low in {"fr", "hr", "sr", "pan"} and not word[0].isupper()):
            continue
        out.append(("TITLE", m.start(1), m.end(0), 0.85))
        start = m.start(2)
        out.append(("PERSON", start, start + len(word), 0.9))  # above NER's 0.85: "dr andrade" keeps its name
    out += [("TITLE", m.start(1), m.end(1), 0.9) for m in _FIELD_TITLE.finditer(text)]
    return out


NATIONALITIES = sorted({
    "afghan", "albanian", "algerian", "american", "angolan", "argentine", "argentinian", "armenian", "australian",
    "austrian", "azerbaijani", "bangladeshi", "belarusian", "belgian", "bolivian", "bosnian", "brazilian", "british",
    "bulgarian", "cambodian", "cameroonian", "canadian", "chilean", "chinese", "colombian", "congolese", "croatian",
    "cuban", "cypriot", "czech", "danish", "dominican", "dutch", "ecuadorian", "egyptian", "emirati", "english",
    "eritrean", "estonian", "ethiopian", "filipino", "finnish", "french", "georgian", "german", "ghanaian", "greek",
    "guatemalan", "haitian", "honduran", "hungarian", "icelandic", "indian", "indonesian", "iranian", "iraqi",
    "irish", "israeli", "italian", "ivorian", "jamaican", "japanese", "jordanian", "kazakh", "kenyan", "korean",
    "kosovan", "kuwaiti", "latvian", "lebanese", "libyan", "lithuanian", "luxembourgish", "malaysian", "maltese",
    "mexican", "moldovan", "mongolian", "montenegrin", "moroccan", "mozambican", "nepalese", "new zealander",
    "nicaraguan", "nigerian", "norwegian", "pakistani", "palestinian", "panamanian", "paraguayan", "peruvian",
    "polish", "portuguese", "qatari", "romanian", "russian", "rwandan", "saudi", "scottish", "senegalese", "serbian",
    "singaporean", "slovak", "slovenian", "somali", "south african", "spanish", "sri lankan", "sudanese", "swedish",
    "swiss", "syrian", "taiwanese", "tanzanian", "thai", "tunisian", "turkish", "ugandan", "ukrainian", "uruguayan",
    "uzbek", "venezuelan", "vietnamese", "welsh", "yemeni", "zambian", "zimbabwean"}, key=len, reverse=True)
_DEMONYM_WORDS = frozenset(n.split()[-1] for n in NATIONALITIES)
_WORD_RX = re.compile(r"[^\W\d_]+")


def _word_set(text: str) -> set[str]:
    return {w.lower() for w in _WORD_RX.findall(text)}


_DEMONYM = "(" + "|".join(re.escape(n) for n in NATIONALITIES) + ")"
_NATIONALITY = [
    re.compile(rf"\b(?:nationality|citizenship|citizen of|national of)\b[ \t]*(?:is|:)?[ \t]*{_DEMONYM}\b", re.I),
    re.compile(rf"\b{_DEMONYM}[ \t]+(?:citizen|citizens|national|nationals|nationality|passport|passport holder|"
               rf"resident|client|customer|man|woman|person|expat|student|tourist)\b", re.I),
    re.compile(rf"\b(?:i am|i'm|im|he is|she is|as an?|an?)[ \t]+{_DEMONYM}\b(?![ \t]+(?:bank|account|card|law|"
               rf"tax|company|branch|number|phone|food|language|speaker))", re.I),
    re.compile(rf"\b(?:i hold|holding|hold)[ \t]+{_DEMONYM}\b", re.I),
]


def nationalities(text: str) -> list[Span]:
    """A nationality in context: "Nationality: Brazilian", "a Dutch citizen", "I'm Kenyan".

    A bare demonym ("I speak French", "the German branch") is not taken.
    """
    if not _word_set(text) & _DEMONYM_WORDS:  # most texts name no nationality: skip the four patterns
        return []
    return [("NATIONALITY", m.start(1), m.end(1), 0.85) for rx in _NATIONALITY for m in rx.finditer(text)]


RECOGNIZERS: dict[str, tuple[tuple[str, ...], Callable[[str], list[Span]]]] = {
    "CardNumberRecognizer": (("CREDIT_CARD",), card_numbers),
    "IbanRecognizer": (("IBAN_CODE",), ibans),
    "DateOfBirthRecognizer": (("DATE_OF_BIRTH",), dates_of_birth),
    "AgeRecognizer": (("AGE",), ages),
    "TitleRecognizer": (("TITLE", "PERSON"), titles),
    "NationalityRecognizer": (("NATIONALITY",), nationalities),
}


def function_recognizers(phone_regions: Sequence[str] = DEFAULT_PHONE_REGIONS,
                         extra: Iterable[tuple[str, tuple[str, ...], Callable[[str], list[Span]]]] = ()) -> list:
    """Presidio recognizers around :data:`RECOGNIZERS`, phone numbers for ``phone_regions`` and ``extra``."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class FunctionRecognizer(EntityRecognizer):
        def __init__(self, name: str, entities: tuple[str, ...], fn: Callable[[str], list[Span]]):
            self.fn = fn
            super().__init__(supported_entities=list(entities), name=name, supported_language="en")

        def load(self) -> None:  # noqa: D102 - nothing to load
            pass

        def analyze(self, text, entities, nlp_artifacts=None):  # noqa: D102
            wanted = set(entities)
            meta = {"recognizer_name": self.name, "recognizer_identifier": self.id,
                    "is_score_enhanced_by_context": True}
            return [RecognizerResult(e, a, b, s, recognition_metadata=dict(meta))
                    for e, a, b, s in self.fn(text) if e in wanted]

    regions = tuple(phone_regions)
    recs = [FunctionRecognizer("PhoneNumberRecognizer", ("PHONE_NUMBER",), lambda t: phone_numbers(t, regions))]
    recs += [FunctionRecognizer(name, ents, fn) for name, (ents, fn) in RECOGNIZERS.items()]
    recs += [FunctionRecognizer(name, ents, fn) for name, ents, fn in extra]
    return recs
