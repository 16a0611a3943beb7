"""Street addresses and postcodes outside the US/UK patterns of :mod:`tailorlm.privacy.pii_address`.

One function, :func:`addresses`, in the style of :mod:`tailorlm.privacy.pii_recognizers`. It finds:

* streets with the street word first and the house number after ("Calle Mayor 5", "Via Roma,
  10", "rue de la Paix 12", "ul. Marszałkowska 10"), with a compound street word ("Hauptstraße 12",
  "Kerkstraat 7", "Granfeltinkatu 2"), or number first in French/English order ("12 rue Carron");
* postcodes of many formats next to a city ("10115 Berlin", "00-950 Warszawa", "1012 AB Amsterdam",
  "Lake Brettport B5S 2DX"), and after a street already found in any case ("...\\n38076 jerzu");
* the street line before a postcode and city, whatever its words ("Hageneggen 99\\n8046 Zürich");
* the value of a form's ``Address:`` / ``Street:`` field.

Scores sit above NER's 0.85 (Presidio keeps the higher of two nested spans of one type). Spans: ``STREET_ADDRESS`` (street and number), ``POSTCODE``, and ``LOCATION`` for the city in an
address block. Everything is case-insensitive except where a capital is the only evidence
(a city after a bare 4-digit postcode).
"""

from __future__ import annotations

import re

from .pii_recognizers import Span

_STREET_FIRST = (r"rue|avenue|av\.?|avda\.?|boulevard|bd\.?|blvd\.?|chemin|ch\.|allée|allee|impasse|place|route|quai|"
                 r"calle|c/|avenida|paseo|plaza|carrer|camino|carretera|privada|pasaje|andador|circuito|cerrada|"
                 r"callejón|prolongación|continuación|via|viale|piazza|piazzale|corso|vicolo|largo|strada|stretto|"
                 r"contrada|borgo|rua|travessa|praça|alameda|estrada|ul\.?|ulica|aleja|al\.|pl\.|plac|os\.|osiedle|"
                 r"drumul|bulevardul|soseaua|șoseaua|calea|aleea|strada|str\.|splaiul|intrarea|piața|nám\.|náměstí|"
                 r"třída|nábřeží|sokak|sk\.|cadde|caddesi|cd\.|mahallesi|mah\.|bulvarı|"
                 r"gatan|vägen|torget|vej|gade|allé|straße|strasse|weg|utca|út|tér|körút|katu|tie|"
                 r"v|na|u|za|k|pod|nad")
_COMPOUND = (r"straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|steig|laan|straat|plein|gracht|singel|"
             r"steeg|pad|dreef|kade|hof|vej|gade|gatan|gata|vägen|väg|veien|vegen|veg|gaten|bakken|marka|katu|tie|"
             r"polku|kuja|bulevardi|kaari|rinne|utca|ulice|sokak|sokağı|caddesi")
_UNIT_WORD = (r"(?:apt|apartment|suite|unit|flat|interior|int|nr|no|bl|sc|ap|piso|piano|scala|app|appartamento|"
              r"edif|depto|level|studio)\b")
_W = rf"(?!{_UNIT_WORD})[^\W\d_][\w'’.-]*"  # a word (may end in a dot: "Bl.", "Sc."), not a unit word
_HOUSE = r"(?:\d{1,5}[a-zA-Z]?(?:[-/]\d{1,5}[a-zA-Z]?)?\.?(?!\d)|s/n)"  # 12, 221B, 8/8, 58. ; s/n: no number
_TAIL = r"(?:[ \t]*,?[ \t]+(?:nr\.?|no\.?|n°|nº|bl\.|sc\.|ap\.|apt\.?|interior|int\.|piso|puerta|piano|scala|app\.?|" \
        r"appartamento|suite|unit|flat|et\.|lok\.|m\.|edif\.?|depto\.?)[ \t]*\d{1,5}[a-zA-Z]?)*"
STREET_PATTERNS = [
    # Calle Mayor 5 / Via Roma, 10 / rue de la Paix 12 / Drumul Ionescu Nr. 45 Bl. 50
    rf"(?<![\w-])(?:{_STREET_FIRST})(?:[ \t]+{_W}){{1,5}},?[ \t]+(?:(?:nr\.?|no\.?|n°|nº)[ \t]*)?{_HOUSE}(?:[ \t]+{_HOUSE})?{_TAIL}",
    # Hauptstraße 12 / Kerkstraat 7b / Adolf Lindforsin bulevardi 245
    rf"(?<![\w-])(?:{_W}[ \t]+){{0,2}}[^\W\d_]*(?:{_COMPOUND})\.?,?[ \t]+{_HOUSE}{_TAIL}",
    # 12 rue Carron / 6043 avenue Laetitia Apt. 4 / 22855 rue Laetitia Suite 959
    rf"(?<![\w.,-])\d{{1,5}}[a-zA-Z]?,?[ \t]+(?:{_STREET_FIRST})(?:[ \t]+{_W}){{1,4}}{_TAIL}",
]
_STREET = re.compile("|".join(f"(?:{p})" for p in STREET_PATTERNS), re.IGNORECASE)
# Cheap gates: the street patterns need a street word or a compound street ending in the text.
_FIRST_WORDS = frozenset(w.rstrip("\\.?").replace("\\", "") for w in _STREET_FIRST.split("|"))
_COMPOUND_ENDS = tuple(w.rstrip("\\.?").replace("\\", "") for w in _COMPOUND.split("|"))
_WORDS = re.compile(r"[^\W\d_]+[./]?")
POSTCODES = [r"\d{5}(?:-\d{3,4})?", r"\d{2}-\d{3}", r"\d{4}-\d{3}", r"\d{3}[ ]\d{2}", r"\d{4}[ ]?[A-Za-z]{2}(?![\w])",
             r"[A-Za-z]-\d{4,5}", r"\d{6}", r"\d{4}", r"[A-Za-z]\d[A-Za-z][ ]?\d[A-Za-z]\d",
             r"[A-Za-z]\d{2}[ ]?[A-Za-z0-9]{4}", r"[A-Za-z]{1,2}\d[A-Za-z\d]?[ ]?\d[A-Za-z]{2}"]
_PC = "(?:" + "|".join(POSTCODES) + ")"
_CITY_ANY = r"[^\W\d_][\w'’.-]*(?:[ \t-]+[^\W\d_][\w'’.-]*){0,3}"
_CITY_CAP = r"(?-i:[A-ZÀ-ÖØ-Þ][\w'’.-]+(?:[ \t-]+[A-ZÀ-ÖØ-Þ(][\w'’.)-]+){0,3})"
_NOT_CITY = re.compile(r"^(?:is|was|are|has|have|at|on|in|and|or|the|to|for|from|items?|days?|hours?|times?|pm|am|"
                       r"eur|usd|gbp|euros?|dollars?|points?|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|"
                       r"please|thanks|shows|still|lists?)\b", re.IGNORECASE)
# what may follow a place at the end of an address inside a sentence: "..., 9698 Mikkelsen last week"
_END = r"(?=[ \t]*(?:[,.;!?\n)]|$|(?:last|this|next|yesterday|today|tomorrow|please|pls|and|but|so|now|thanks)\b))"
# After a street: ", 24040 Spianate" / "\nLake Brettport B5S 2DX" / ", Wellington 6011"
_AFTER_STREET = re.compile(rf"(?:,[ \t]*|[ \t]*\n[ \t]*|[ \t]+)(?:(?P<pc1>{_PC})[ \t]+(?P<city1>{_CITY_ANY})|"
                           rf"(?P<city2>{_CITY_ANY}),?[ \t]+(?P<pc2>{_PC})){_END}",
                           re.IGNORECASE)
# A postcode and a capitalized city anywhere: "10115 Berlin", "00-950 Warszawa"
_PC_CITY = re.compile(rf"(?<![\w#$€£.,:/-])(?P<pc>{_PC})[ \t]+(?P<city>{_CITY_CAP}){_END}")
_CITY_PC = re.compile(rf"(?P<city>{_CITY_CAP}),?[ \t]+(?P<pc>(?-i:[A-Z]\d[A-Z][ ]?\d[A-Z]\d|[A-Z]{{1,2}}\d[A-Z\d]?[ ]?"
                      rf"\d[A-Z]{{2}}|[A-Z]\d{{2}}[ ]?[A-Z0-9]{{4}}|\d{{4,6}}))(?=[ \t]*(?:[,.;!?\n]|$))")
_BLOCK = re.compile(rf"^[ \t]*(?P<street>(?:[^\W\d_][^\n\d@:]{{1,50}}?[ \t]\d{{1,5}}[a-zA-Z]?\.?(?:[/-]\d{{1,5}})?|"
                    rf"\d{{1,5}}[a-zA-Z]?,?[ \t][^\W\d_][^\n\d@:]{{1,50}}?|"
                    rf"[^\W\d_][^\n\d@:]{{0,30}}?[ \t]\d{{1,5}}[a-zA-Z]?[ \t][^\W\d_][^\n\d@:]{{1,40}}?|"
                    rf"(?:{_STREET_FIRST})[ \t][^\W\d_][^\n\d@:]{{1,50}}?))[ \t]*\n[ \t]*"
                    rf"(?:(?P<pc1>{_PC})[ \t]+(?P<city1>{_CITY_ANY})|(?P<city2>{_CITY_ANY}),?[ \t]+(?P<pc2>{_PC}))[ \t]*$",
                    re.IGNORECASE | re.MULTILINE)
_FIELD = re.compile(r"^[ \t]*(?:address|home address|street address|street|adresse|anschrift|dirección|direccion|"
                    r"indirizzo|morada|endereço|adres)[ \t]*:[ \t]*(?P<v>[^\n]{3,120}?)[ \t]*$",
                    re.IGNORECASE | re.MULTILINE)
_PC_FIELD = re.compile(r"^[ \t]*(?:postcode|post code|postal code|zip|zip code|plz|cp|cap|cep)[ \t]*:[ \t]*"
                       rf"(?P<v>{_PC})[ \t]*$", re.IGNORECASE | re.MULTILINE)
_DIGIT = re.compile(r"\d")


_COUNTRY_LINE = re.compile(r"(?:,[ \t]*|[ \t]*\n[ \t]*)([^\W\d_][\w'’.-]*(?:[ \t]+[^\W\d_][\w'’.-]*){0,3})"
                           r"[ \t]*(?=\n|$)")


def _country(text: str, end: int) -> list[Span]:
    """The country on the line after an address block's postcode and city ("\nRepublic of Ireland")."""
    m = _COUNTRY_LINE.match(text, end)
    return [("LOCATION", m.start(1), m.end(1), 0.87)] if m and not _NOT_CITY.match(m.group(1)) else []


def _locality(text: str, end: int) -> list[Span]:
    """Postcode and city (and a country line) right after a street ending at ``end``."""
    m = _AFTER_STREET.match(text, end)
    if not m:
        return []
    pc, city = ("pc1", "city1") if m.group("pc1") else ("pc2", "city2")
    out = [("POSTCODE", m.start(pc), m.end(pc), 0.9)]
    if m.group(city) and not _NOT_CITY.match(m.group(city)):
        out.append(("LOCATION", m.start(city), m.end(city), 0.87))
    return out + _country(text, m.end())


_STREET_WORD_START = re.compile(rf"(?:{_STREET_FIRST})[ \t]", re.IGNORECASE)


def _addressee(text: str, street_start: int) -> list[Span]:
    """The name on the line before an address block's street line ("Paula Dima\nDrumul Ionescu 45")."""
    from .pii_names import line_name

    if street_start == 0 or text[street_start - 1] != "\n":
        return []
    a = text.rfind("\n", 0, street_start - 1) + 1
    line = text[a:street_start - 1]
    b = a + len(line.rstrip(" \t,"))
    a += len(line) - len(line.lstrip())
    # 0.86: above NER's 0.85, which often takes only the surname ("Lachapelle") of the addressee
    return [("PERSON", a, b, 0.86)] if b > a and ":" not in line and line_name(text, a, b) else []


def _street_before(text: str, start: int) -> Span | None:
    """The street line before a postcode at ``start``: back to the line start or an address cue."""
    line_start = text.rfind("\n", 0, start) + 1
    seg = text[line_start:start]
    if not seg.strip(" ,\t"):  # postcode starts its line: the street is the previous line
        prev_end = line_start - 1
        if prev_end <= 0:
            return None
        prev_start = text.rfind("\n", 0, prev_end) + 1
        seg, line_start = text[prev_start:prev_end], prev_start
    cue = list(re.finditer(r"(?:\b(?:to|is|at|address|of)\b|:)[ \t]+", seg, re.IGNORECASE))
    a = line_start + (cue[-1].end() if cue else 0)
    b = line_start + len(seg.rstrip(" ,\t"))
    piece = text[a:b]
    if not 3 <= len(piece) <= 70 or len(piece.split()) > 9 or "@" in piece:
        return None
    if not (_DIGIT.search(piece) or _STREET_WORD_START.match(piece)):  # "Drumul Martin Stancu" has no number
        return None
    return ("STREET_ADDRESS", a, b, 0.9)


def addresses(text: str) -> list[Span]:
    """International street addresses, postcodes and the cities of address blocks (see the module doc)."""
    if not _DIGIT.search(text):
        return []
    out: list[Span] = []
    words = {w.lower().rstrip("./") for w in _WORDS.findall(text)}
    has_street = bool(words & _FIRST_WORDS) or any(w.endswith(_COMPOUND_ENDS) for w in words)
    for m in _STREET.finditer(text) if has_street else ():
        out.append(("STREET_ADDRESS", m.start(), m.end(), 0.9))
        out += _locality(text, m.end()) + _addressee(text, m.start())
    for rx in (_PC_CITY, _CITY_PC):
        for m in rx.finditer(text):
            if _NOT_CITY.match(m.group("city")):
                continue
            out.append(("POSTCODE", m.start("pc"), m.end("pc"), 0.9))
            out.append(("LOCATION", m.start("city"), m.end("city"), 0.87))
            out += _country(text, m.end())
            street = _street_before(text, m.start() if rx is _PC_CITY else m.start("city"))
            if street:
                out += [street, *_addressee(text, street[1])]
    for m in _BLOCK.finditer(text):  # any case: "larsengropa 2\n1553 nilsen"
        pc, city = ("pc1", "city1") if m.group("pc1") else ("pc2", "city2")
        out += [("STREET_ADDRESS", m.start("street"), m.end("street"), 0.9),
                ("POSTCODE", m.start(pc), m.end(pc), 0.9), ("LOCATION", m.start(city), m.end(city), 0.87),
                *_country(text, m.end()), *_addressee(text, m.start("street"))]
    for m in _FIELD.finditer(text):
        v = m.group("v")
        loc = [s for s in out if m.start("v") <= s[1] < m.end("v") and s[0] in ("POSTCODE", "LOCATION")]
        end = min([s[1] for s in loc], default=m.end("v"))
        street_end = m.start("v") + len(text[m.start("v"):end].rstrip(" ,\t"))
        if street_end > m.start("v") and (_DIGIT.search(v) or loc):
            out.append(("STREET_ADDRESS", m.start("v"), street_end, 0.9))
    out += [("POSTCODE", m.start("v"), m.end("v"), 0.9) for m in _PC_FIELD.finditer(text)]
    return out
