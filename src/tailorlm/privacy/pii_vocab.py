"""Everyday words the NER model takes for names: interface and business vocabulary, calendar words.

:data:`GENERIC_TERMS` (abbreviations, payment networks and wallets, platforms) are never an NER
entity by themselves ("at the ATM", "Is Visa accepted?", "pay with Klarna").

spaCy's small English model reads any Title Case phrase as a name, a company or a place: on a
support workload "Order History" became a person, "the Help Centre" a company and a place,
"Forgot Password", "Notify Me" and "Customer Care" names. Such phrases are made only of words of
:data:`UI_WORDS` (buttons, pages, teams, documents, commerce and banking terms), stop words and
calendar words; :func:`ordinary_phrase` says so, and the scrubber drops an NER span that is one.
The list leaves out words that are also common surnames or place words ("Baker", "Hall", "Park",
"Green", "Street"), so "Maria Park" or "Green Street" are still read by NER as before.

:data:`LOWER_CASE_ORDINARY` are first names of the lexicon that are, written in lower case,
ordinary English words ("the agent said", "a yoga mat", "a lap tray"): they count as a name only
when written with a capital.
"""

from __future__ import annotations

import re

# Generic terms the small NER model tags as organisations or places ("my card failed at the ATM"):
# never personal data, and replacing them would teach the model placeholders for everyday words.
GENERIC_TERMS = {"atm", "pin", "apr", "apy", "id", "ai", "sms", "otp", "faq", "usd", "eur", "gbp", "iban", "swift",
                 "ach", "kyc", "cvv", "cvc", "ssn", "dob", "vat", "eta", "asap", "fyi", "ira", "hsa", "cd", "pdf",
                 "app", "wifi", "nfc", "qr", "chat", "bank", "support", "customer service",
                 # payment networks and wallets: product names, not personal data ("Is Visa accepted?")
                 "visa", "mastercard", "amex", "american express", "maestro", "discover", "paypal", "apple pay",
                 "google pay", "android", "ios", "iphone", "ipad", "windows", "macos", "linux", "chrome", "safari",
                 "firefox", "whatsapp", "klarna", "afterpay", "clearpay", "venmo", "zelle", "alipay", "giropay",
                 "bancontact", "twint", "sofort", "skrill", "paysafecard", "revolut",
                 "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
MONTHS = frozenset("january february march april may june july august september october november december "
                   "jan feb mar apr jun jul aug sep sept oct nov dec".split())
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur thurs fri "
                     "sat sun".split())
UI_WORDS = frozenset("""
account accounts activity add address addresses alert alerts app apply approve archive assistant available back
balance basket benefits billing blog book booking bookings browse business button buy calendar cancel cancellation
card cards care career careers cart catalogue catalog centre center change chat checkout choose claim claims clear
click close collect collection community complaint complaints confirm confirmation connect contact continue copy
create credit customer customers dashboard deal deals debit default delete deliveries delivery deposit desk details
direct discount discounts document documents done download downloads draft edit email emails enquiry enquiries
error exchange exchanges express faq faqs feedback file files filter find forgot form forms free frequently
gift guarantee guide guides help helpdesk history home hub inbox information info insurance invoice invoices item
items join language learn limit limits link list live loan loans locate locator log login logout loyalty manage
member members membership menu message messages method methods missing mobile my new newsletter newsletters
next note notice notification notifications notify offer offers online open option options order orders overview
package packages page parcel parcels password passwords pay payment payments pending personal phone plan plans
points policy policies portal preferences premium press print privacy problem problems product products profile
promo promotion promotions purchase purchases questions quick rate rates receipt receipts redirect refund refunds
register reminder reminders remove renew repair repairs replace replacement report request requests reset resolve
resources retry return returns review reviews reward rewards save saved savings search secure security select
sell send service services session setting settings setup share shipment shipments shipping shop shopping sign
signin signup size sizes statement statements status stock store submit subscribe subscription subscriptions
summary support team terms ticket tickets track tracking transaction transactions transfer transfers unsubscribe
update updates upgrade upload user username verify view voucher vouchers wallet warranty welcome wishlist withdraw
wrong regards hello hi hey dear thanks thank please cheers sincerely wishes greetings
""".split())
# Lexicon first names that in lower case are ordinary words (:mod:`tailorlm.privacy.pii_names`).
LOWER_CASE_ORDINARY = frozenset("""
said mat lap hat pan pen tab tie fan nail dot edit brand bay autumn easter march ran won rod kit chip lane drew sue
rob nick wade lance miles ward sage gale cliff reed brook hunter gray
""".split())
_WORDS = re.compile(r"[^\W\d_]+")


def ordinary_phrase(value: str) -> bool:
    """True when every word of ``value`` is interface vocabulary, a stop word or a calendar word.

    "Order History", "the Help Centre", "Account Settings > Personal Details", "Chat with Us" and
    "Monday" are; "Maria Lopez", "New York" and "Help Centre Maria" are not.
    """
    from spacy.lang.en.stop_words import STOP_WORDS

    words = [w.lower() for w in _WORDS.findall(value)]
    return bool(words) and all(w in UI_WORDS or w in STOP_WORDS or w in MONTHS or w in WEEKDAYS for w in words)
