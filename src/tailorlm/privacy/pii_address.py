"""Pattern recognizers for postal addresses: street addresses, US ZIP codes and UK postcodes.

The small spaCy NER model tags a city or a state here and there but never a house number or a
ZIP code, so "42 Elm Street, Springfield, IL 62704" came out as "42 Elm Street, <LOCATION_1>,
<ORGANIZATION_1>". These recognizers find the whole address as one ``STREET_ADDRESS`` span, so it
becomes one ``<STREET_ADDRESS_1>``; a postcode on its own is a ``POSTCODE``. Addresses of other
countries (street word first, house number after the street, postcodes of many formats, multi-line
blocks) are found by :mod:`tailorlm.privacy.pii_intl_address`.

Like :data:`~tailorlm.privacy.pii.PERSON_CUES`, each pattern is a (regex, score) pair. Presidio
matches with IGNORECASE, so ``(?-i:...)`` keeps the capitalization tests. Scores are above NER's
0.85 where the shape is unambiguous (a house number, a capitalized street name and a street
suffix; a state next to a ZIP code), so the address span wins over the NER pieces inside it.
Weaker shapes (a lower-case street, a bare ZIP code or postcode) score below the 0.5 threshold and
only count next to a context word ("address", "live", "zip"...), which Presidio's context
enhancer reads in the five words before the match.
"""

from __future__ import annotations

import re

# Street suffixes (USPS and Royal Mail common forms); abbreviations may end in a dot.
_SUFFIX = (r"(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Way|Court|Ct|Place|Pl|"
           r"Terrace|Ter|Parkway|Pkwy|Highway|Hwy|Circle|Cir|Square|Sq|Crescent|Cres|Close|Grove|"
           r"Gardens|Mews|Alley|Trail|Plaza|Turnpike|Throughway|Expressway|Freeway|Causeway|Plains|Plain|"
           r"Mountains|Mountain|Mount|Station|Islands|Island|Point|Points|Centre|Center|Ranch|Springs|Spring|"
           r"Estate|Estates|Heights|Hills|Hill|Park|Row|Walk|Rise|View|Vale|Valley|Meadows|Fields|Green|Wharf|"
           r"Quay|Parade|Esplanade|Promenade|Crossing|Crossroad|Junction|Loop|Pass|Path|Pike|Ridge|Run|Shore|"
           r"Shores|Summit|Track|Village|Villages|Ville|Vista|Wells|Knoll|Lake|Lakes|Landing|Manor|Mill|Mills|"
           r"Orchard|Oval|Port|Prairie|Radial|Haven|Harbor|Harbour|Fork|Forks|Ford|Fords|Forest|Glen|Gateway|"
           r"Brook|Brooks|Burg|Bypass|Camp|Canyon|Cape|Cliff|Cliffs|Club|Common|Corner|Corners|Course|Cove|"
           r"Creek|Crest|Dale|Dam|Divide|Extension|Falls|Ferry|Flat|Flats|Grove|Groves|Inlet|Key|Keys|Light|"
           r"Lights|Lock|Locks|Lodge|Neck|Pines|Plaza|Ramp|Rapids|Rest|Route|Shoal|Skyway|Spur|Stream|"
           r"Underpass|Union|Via|Viaduct|Views|Ways)\b\.?")
_STATE_ABBR = (r"(?-i:AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|"
               r"NE|NV|NH|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR)")
_STATE_NAME = (r"(?-i:Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|"
               r"Georgia|Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|"
               r"Massachusetts|Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|"
               r"New Hampshire|New Jersey|New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|"
               r"Oregon|Pennsylvania|Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|"
               r"Vermont|Virginia|Washington|West Virginia|Wisconsin|Wyoming)")
_ZIP = r"\d{5}(?:-\d{4})?\b"
_UK_POSTCODE = r"(?-i:[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2})\b"  # SW1A 1AA, M1 1AE, EC1A 1BB
_CITY = r"(?-i:[A-Z][a-z]+(?:[ -][A-Z][a-z]+){0,2})"  # Springfield, San Luis Obispo, Stoke-On-Trent
_COUNTRY = r"(?:,?[ \t]+(?-i:USA|U\.S\.A\.|United States|UK|United Kingdom|England|Scotland|Wales))?"
# "IL 62704", "Illinois 62704", "SW1A 1AA": what may follow a street and city.
_REGION = rf"(?:{_STATE_ABBR}|{_STATE_NAME})\b(?:[ \t]+{_ZIP})?|{_UK_POSTCODE}|{_ZIP}"
# ", Springfield, IL 62704": a city is only taken with a region after it or at the end of a line,
# so "42 Elm Street, Bob, can you..." does not swallow the name; on the next line ("12 High
# Street\nLeeds LS1 4AP") only with a region after it.
_LOCALITY = (rf"(?:,[ \t]*{_CITY}(?=,?[ \t]*(?:{_REGION})|[ \t]*(?:[.!?]?[ \t]*$|\n))"
             rf"|[ \t]*\n[ \t]*{_CITY}(?=,?[ \t]*(?:{_REGION})))?"
             rf"(?:,?[ \t]*(?:{_REGION}))?{_COUNTRY}")
_NUMBER = r"\b\d{1,6}[A-Z]?(?:[-/]\d{1,6}[A-Z]?)?"  # 42, 221B, 12-14
_UNIT = (r"(?:(?:Apartment|Apt|Suite|Ste|Unit|Flat|Floor|Fl|Room|Rm)\b\.?[ \t]*#?|#)"
         r"[ \t]*[A-Z0-9][A-Z0-9-]{0,5}\b")  # Apt 4B, Suite 200, #12
_DIRECTION = r"(?-i:N|S|E|W|NE|NW|SE|SW|North|South|East|West)\b\.?"
_STREET_WORD = r"(?-i:[A-Z][A-Za-z'’-]*|\d{1,3}(?:st|nd|rd|th))"  # Elm, O'Connell, 5th
_LOWER_WORD = r"(?!(?:a|an|the|on|at|in|to|of|for|and|from|by|near|off|my|your|our|per|each)\b)[a-z]+"

ADDRESS_PATTERNS: dict[str, tuple[str, float]] = {
    # 42 Elm Street[ NW][, Apt 4B][, Springfield, IL 62704]: house number, capitalized name, suffix.
    "street_address": (rf"(?:(?:{_UNIT}),?[ \t]+)?{_NUMBER}[ \t]+(?:{_DIRECTION}[ \t]+)?"
                       rf"(?:{_STREET_WORD}[ \t]+){{1,3}}{_SUFFIX}(?:[ \t]+{_DIRECTION})?"
                       rf"(?:,?[ \t]+(?:{_UNIT}))?{_LOCALITY}", 0.9),
    "po_box": (rf"\b(?:P\.?[ \t]?O\.?[ \t]?Box|Post Office Box)[ \t]+\d{{1,6}}\b{_LOCALITY}", 0.9),
    # an uncased writer's "42 elm street": only next to a context word ("i live at 42 elm street").
    "street_address_lower": (rf"{_NUMBER}[ \t]+(?:{_LOWER_WORD}[ \t]+){{1,2}}{_SUFFIX}", 0.4),
}
POSTCODE_PATTERNS: dict[str, tuple[str, float]] = {
    # [Springfield, ]IL 62704 / Illinois 62704: a state next to a ZIP code.
    "us_state_zip": (rf"(?:{_CITY},?[ \t]+)?\b(?:{_STATE_ABBR}|{_STATE_NAME})\b,?[ \t]+{_ZIP}{_COUNTRY}", 0.9),
    # London SW1A 1AA / Leeds, LS1 4AP: a city next to a well-formed postcode.
    "uk_city_postcode": (rf"{_CITY},?[ \t]+{_UK_POSTCODE}{_COUNTRY}", 0.9),
    # A bare ZIP code or postcode: only next to a context word ("my zip is 62704").
    "us_zip": (rf"\b{_ZIP}", 0.2),
    "uk_postcode": (rf"\b{_UK_POSTCODE}", 0.4),
}
ADDRESS_CONTEXT = ["address", "live", "lives", "moved", "move", "ship", "deliver", "mail", "send", "located",
                   "home", "house", "residence", "reside", "visit"]
POSTCODE_CONTEXT = ["zip", "zipcode", "postcode", "postal", "address", "live", "moved"]
_DIGIT = re.compile(r"\d")
# Cheap tests before the (slow, IGNORECASE) address patterns: a number then a street suffix or a PO box;
# five digits in a row or a UK postcode's shape.
_SUFFIX_WORDS = frozenset(w.lower() for w in re.findall(r"[A-Za-z]+", _SUFFIX.split(")")[0])) | {"box"}
_WORD = re.compile(r"[A-Za-z]+")


class _StreetGate:
    """``search(text)``: a digit and a street suffix word (or "box") somewhere in the text."""

    @staticmethod
    def search(text: str) -> bool:
        return bool(_DIGIT.search(text)) and not _SUFFIX_WORDS.isdisjoint(w.lower() for w in _WORD.findall(text))


_STREET_GATE = _StreetGate()
_POSTCODE_GATE = re.compile(r"\d{5}|[A-Za-z]{1,2}\d[A-Za-z\d]?[ \t]?\d[A-Za-z]{2}\b")


def address_recognizers() -> list:
    """Presidio pattern recognizers for US/UK street addresses (``STREET_ADDRESS``) and postcodes (``POSTCODE``).

    Every pattern needs a digit (house number, box number, ZIP code or postcode), and a street a
    suffix after it, so a text without them is skipped before the patterns run (cheap regex gates):
    two thirds of support messages have no digit at all.
    """
    from presidio_analyzer import Pattern, PatternRecognizer

    class GatedRecognizer(PatternRecognizer):
        gate = _DIGIT  # anything with .search(text)

        def analyze(self, text: str, entities, nlp_artifacts=None, regex_flags=None):  # noqa: D102
            return super().analyze(text, entities, nlp_artifacts, regex_flags) if self.gate.search(text) else []

    def recognizer(name: str, patterns: dict[str, tuple[str, float]], context: list[str], entity: str):
        return GatedRecognizer(supported_entity=entity, name=name, supported_language="en", context=context,
                                    patterns=[Pattern(k, rx, score) for k, (rx, score) in patterns.items()])

    street = recognizer("StreetAddressRecognizer", ADDRESS_PATTERNS, ADDRESS_CONTEXT, "STREET_ADDRESS")
    street.gate = _STREET_GATE
    postcode = recognizer("PostcodeRecognizer", POSTCODE_PATTERNS, POSTCODE_CONTEXT, "POSTCODE")
    postcode.gate = _POSTCODE_GATE
    return [street, postcode]
