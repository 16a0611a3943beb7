"""Generate the many-label banking intent workload: ``train.jsonl`` and ``test.jsonl``.

    python bench/workloads/intents/generate.py            # writes next to this file, seed 20261201

Stdlib only and deterministic for a seed. Each message is built compositionally: an optional
opener, one paraphrase template of its intent (with slots: card words, merchants, amounts,
currencies, people, times ...), sometimes a context sentence of the intent's family (shared by
confusable intents, so it carries no label signal) or a second phrasing, an optional closer, a
British or American spelling, then realistic noise (lower case, no punctuation, typos, rarely
ALL CAPS or an emoji).

Train and test phrasing are kept apart: per intent about a third of the paraphrase templates, a
share of every slot's values and of the openers/closers appear only in test. No message is a
duplicate or near-duplicate of another, in either split, by the rules of tailorlm's default
curation (``textgen.NearDupGuard``), so the project keeps them all.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from textgen import NearDupGuard, capitalise_first, expand, split_holdout  # noqa: E402
from phrases_cards import CARDS, PAYMENTS  # noqa: E402
from phrases_money import ACCOUNT, CASH, TOPUPS, TRANSFERS  # noqa: E402
import noise  # noqa: E402

SEED = 20261201
FAMILIES = {"card": CARDS, "payment": PAYMENTS, "transfer": TRANSFERS, "top_up": TOPUPS,
            "cash": CASH, "account": ACCOUNT}
TEMPLATE_HOLDOUT = 0.34   # share of each intent's templates seen only in test
SLOT_HOLDOUT = 0.25       # share of each slot's values seen only in test
N_TRAIN, N_TEST = 6000, 1700
TEST_HELD_OUT_SHARE = 0.25  # share of test messages phrased with held-out templates

SLOTS = {
    "card": ["card", "card", "debit card", "bank card", "Visa card", "Mastercard", "new card",
             "credit card", "plastic card", "visa debit", "contactless card", "physical card"],
    "merchant": ["Tesco", "Amazon", "a restaurant", "the supermarket", "a petrol station", "Uber",
                 "Netflix", "Spotify", "Lidl", "a hotel", "an online shop", "the pharmacy", "eBay",
                 "Zara", "IKEA", "Starbucks", "a cafe", "Walmart", "Target", "Deliveroo", "Aldi",
                 "the train station", "a bar", "Booking.com", "Sainsbury's", "Asos", "a taxi"],
    "amount": lambda r: _amount(r),
    "cur": ["euros", "dollars", "pounds", "GBP", "USD", "EUR", "Swiss francs", "yen", "zloty",
            "AUD", "Canadian dollars", "Swedish krona", "lira", "dirham"],
    "days": ["two days", "3 days", "a week", "over a week", "5 days", "48 hours", "ten days",
             "two weeks", "4 days", "nearly a month", "a few days", "24 hours", "three weeks"],
    "country": ["Spain", "France", "the US", "Germany", "Italy", "Portugal", "Turkey", "Thailand",
                "Mexico", "Japan", "Poland", "Greece", "Canada", "Brazil", "India", "Morocco",
                "the Netherlands", "Ireland", "Croatia"],
    "app": ["the app", "your app", "the mobile app", "the banking app", "the iPhone app",
            "the Android app", "my phone app"],
    "person": ["my friend", "my sister", "my landlord", "my mum", "my brother", "a colleague",
               "my flatmate", "my dad", "the seller", "my partner", "my cousin", "my boss",
               "my roommate", "Anna", "Tom", "Priya", "Jakub", "my son", "the builder"],
    "time": ["yesterday", "this morning", "last night", "on Monday", "two days ago", "an hour ago",
             "last week", "earlier today", "on Friday", "at the weekend", "on Tuesday",
             "a few hours ago", "last Thursday"],
    "atm": ["ATM", "cash machine", "cashpoint", "ATM machine", "hole in the wall", "atm"],
}


def _amount(rng: random.Random) -> str:
    value = rng.choice([5, 10, 12.5, 20, 23.99, 40, 50, 60, 75, 100, 120, 150, 200, 250, 300,
                        500, 800, 1000, 1200, 2500, 9.99, 35.4, 64.2])
    text = f"{value:,.2f}".replace(".00", "") if isinstance(value, float) else f"{value:,}"
    style = rng.random()
    if style < 0.55:
        return rng.choice(["£", "$", "€"]) + text
    if style < 0.85:
        return f"{text} {rng.choice(['pounds', 'euros', 'dollars', 'GBP', 'EUR', 'USD'])}"
    return text


OPENERS = [
    "Hi,", "Hello,", "Hey,", "Hi there,", "Good morning,", "Good afternoon.", "Hello there!",
    "Excuse me,", "Quick question:", "Help!", "Please help.", "Urgent:", "Hiya,", "Dear support,",
    "Sorry to bother you but", "Hey team,", "Morning,", "I need some help.", "Hi, me again.",
    "To whom it may concern,", "Hello, I have a problem.", "Hey guys", "Good evening,",
    "Can you help me?", "I have a question.", "Hi support,", "Evening,", "Dear Sir or Madam,",
    "Hello!", "Hi team,", "Question:", "Yo,", "Hi, hoping you can help.", "Hi again,",
]
CLOSERS = [
    "Thanks.", "Thank you!", "Cheers", "Please advise.", "Any ideas?", "What should I do?", "thx",
    "Can you help?", "Please sort this out.", "This is really annoying.", "I need this fixed asap.",
    "Appreciate it.", "Thanks in advance.", "Many thanks.", "Please help me.", "Kind regards.",
    "ty", "Let me know.", "Thanks a lot!", "What now?", "This is urgent.", "Regards, Sam",
    "Please get back to me.", "Help please", "Not happy.", "Thanks, Maria",
]
CONTEXT = {
    "card": ["I only got the card {days} ago.", "It's my {card}.", "I'm abroad right now.",
             "I need it for work.", "I've had this card for years.", "I'm in {country} at the moment.",
             "This happened {time}.", "I use it every day.", "I'm travelling next week."],
    "payment": ["It was {amount}.", "This was at {merchant}.", "I checked {app} {time}.",
                "I didn't get any notification.", "It shows on my statement.", "It was {time}.",
                "The amount was {amount}."],
    "transfer": ["It was {amount} to {person}.", "I used {app}.", "It was for rent.",
                 "I double-checked the details.", "It was {time}.", "I sent it {time}."],
    "top_up": ["I used my {card}.", "It was {amount}.", "I did it through {app}.",
               "It was {time}.", "I need the money today."],
    "cash": ["It was at a {atm} in {country}.", "I needed {amount}.", "This was {time}.",
             "It was a {atm} near {merchant}."],
    "account": ["I've been a customer for years.", "I use {app} on my phone.",
                "I've tried everything.", "This started {time}."],
    "any": ["This is the second time this has happened.", "I'm really worried.",
            "I've been trying all day.", "Nobody has answered my chat.", "Sorry if this is a silly question.",
            "I'm not very good with apps.", "My English is not perfect sorry."],
}
WEIGHTS = [1.0, 1.0, 1.0, 1.3, 1.6, 2.0, 2.5]  # per-intent frequency, mild imbalance


def build_pools(rng: random.Random) -> dict:
    """Split templates, slot values, openers and closers into train-only and test-only parts."""
    intents = {}
    for family, table in FAMILIES.items():
        for intent, templates in table.items():
            shared, held = split_holdout(templates, rng, TEMPLATE_HOLDOUT)
            intents[intent] = {"family": family, "train": shared, "test": held,
                               "weight": rng.choice(WEIGHTS)}
    slots = {"train": {}, "test": {}}
    for name, values in SLOTS.items():
        if callable(values):
            slots["train"][name] = slots["test"][name] = values
            continue
        shared, held = split_holdout(values, rng, SLOT_HOLDOUT)
        slots["train"][name], slots["test"][name] = shared, shared + held
    op_shared, op_held = split_holdout(OPENERS, rng, 0.3)
    cl_shared, cl_held = split_holdout(CLOSERS, rng, 0.3)
    return {"intents": intents, "slots": slots,
            "openers": {"train": op_shared, "test": op_shared + op_held},
            "closers": {"train": cl_shared, "test": cl_shared + cl_held}}


def pick_templates(info: dict, split: str, rng: random.Random) -> list[str]:
    """Train draws only shared templates; test draws held-out ones for a share of its messages."""
    if split == "train" or rng.random() > TEST_HELD_OUT_SHARE:
        return info["train"]
    return info["test"]


def compose(intent: str, info: dict, pools: dict, split: str, rng: random.Random) -> str:
    """One message of ``intent``: opener, core phrasing, optional context, closer."""
    slots = pools["slots"][split]
    templates = pick_templates(info, split, rng)
    core = capitalise_first(expand(rng.choice(templates), rng, slots))
    if not core.endswith(("?", ".", "!")):
        core += "?" if _is_question(core) and rng.random() < 0.8 else rng.choice([".", "", ""])
    parts = [core]
    if rng.random() < 0.22:
        pool = CONTEXT[info["family"]] if rng.random() < 0.75 else CONTEXT["any"]
        sentence = expand(rng.choice(pool), rng, slots)
        parts.insert(0 if rng.random() < 0.4 else 1, sentence)
    elif rng.random() < 0.06:  # a second phrasing of the same problem
        again = capitalise_first(expand(rng.choice(templates), rng, slots))
        parts.append(again + rng.choice(["?", ".", ""]))
    if rng.random() < 0.3:
        parts.insert(0, rng.choice(pools["openers"][split]))
    if rng.random() < 0.22:
        parts.append(rng.choice(pools["closers"][split]))
    return fix_articles(" ".join(p for p in parts if p))


_QUESTION_START = re.compile(r"^(how|what|when|where|why|which|who|is|are|can|could|do|does|did|will|has|have|should)\b", re.I)


_ARTICLE = re.compile(r"\b(a|an|A|An) (?=([A-Za-z]+))")
_CONSONANT_SOUND = ("one", "uni", "use", "usu", "eu", "usd")


def fix_articles(text: str) -> str:
    """``a``/``an`` by the sound of the next word (slots make "a ATM" otherwise)."""
    def pick(m: re.Match) -> str:
        nxt = m.group(2).lower()
        vowel = (nxt[0] in "aeiou" and not nxt.startswith(_CONSONANT_SOUND)) or nxt.startswith("hour") \
            or nxt in {"atm", "iban", "sms"}
        word = "an" if vowel else "a"
        return (word.capitalize() if m.group(1)[0].isupper() else word) + " "
    return _ARTICLE.sub(pick, text)


def _is_question(text: str) -> bool:
    return bool(_QUESTION_START.match(text))


def label_counts(pools: dict, n: int) -> dict[str, int]:
    """Messages per intent, proportional to its weight (largest remainders), summing to ``n``."""
    intents = sorted(pools["intents"])
    total = sum(pools["intents"][i]["weight"] for i in intents)
    exact = {i: n * pools["intents"][i]["weight"] / total for i in intents}
    counts = {i: int(v) for i, v in exact.items()}
    for i in sorted(intents, key=lambda i: exact[i] - counts[i], reverse=True)[: n - sum(counts.values())]:
        counts[i] += 1
    return counts


def new_guard() -> NearDupGuard:
    """The near-duplicate guard for both splits; slot values PII scrubbing would replace are masked."""
    masked = [v for name in ("merchant", "person", "country") for v in SLOTS[name]]
    masked += ["Sam", "Maria", "Anna", "Tom", "Priya", "Jakub"]
    return NearDupGuard(masked)


def sample_split(pools: dict, split: str, n: int, rng: random.Random, guard: NearDupGuard) -> list[dict]:
    """``n`` messages of ``split``, per-intent counts by weight, in shuffled order.

    A message that ``guard`` finds a (near-)duplicate of one already drawn, in either split, is redrawn.
    """
    drawn = []
    for intent, count in label_counts(pools, n).items():
        got, tries = 0, 0
        while got < count:
            tries += 1
            if tries > count * 200:
                raise RuntimeError(f"could not draw {count} unique {split} messages of {intent}; add phrasing")
            text = noise.apply(compose(intent, pools["intents"][intent], pools, split, rng), rng)
            if not guard.admit(text + "\n" + intent, group=intent):  # tailorlm compares text and label
                continue
            drawn.append((text, intent))
            got += 1
    rng.shuffle(drawn)
    return [{"id": f"{split}-{i:05d}", "text": t, "label": l} for i, (t, l) in enumerate(drawn)]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    pools = build_pools(random.Random(args.seed))
    guard = new_guard()
    train = sample_split(pools, "train", N_TRAIN, random.Random(args.seed + 1), guard)
    test = sample_split(pools, "test", N_TEST, random.Random(args.seed + 2), guard)
    write_jsonl(args.out / "train.jsonl", train)
    write_jsonl(args.out / "test.jsonl", test)
    print(f"{len(pools['intents'])} labels, {len(train)} train, {len(test)} test -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
