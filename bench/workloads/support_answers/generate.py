"""Generate the support-answer workload: ``train.jsonl`` and ``test.jsonl`` of prompt -> completion pairs.

    python bench/workloads/support_answers/generate.py      # writes next to this file, seed 20261202

Stdlib only and deterministic for a seed. A prompt is a customer message of one of 20 online-shop
intents, with details drawn per example: the situation (a branch of the intent: card or PayPal,
damaged or wrong size, shipped or not ...), the item, an order reference (a 10-12 digit number
after "order"/"purchase", a ``{{Order Number}}`` or ``<ORDER_ID>`` slot, or none), sometimes a
signed first name and urgency. The answer (60-250 words) follows from the intent *and* those
details: it names the item and the order reference, gives the branch's instructions, greets by
name when the customer signed, and keeps template slots such as ``{{Website Name}}``,
``{{Customer Support Phone Number}}``, ``<ORDER_ID>`` and ``[name]``. Each answer sentence has
alternative wordings, so no two answers of an intent are copies.

Train and test phrasing are kept apart: per intent about a third of the prompt templates, one
situation phrase per branch and a share of the items appear only in test; no test prompt equals a
train prompt, and no pair is a near-duplicate of another (``textgen.NearDupGuard``).
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

import noise  # noqa: E402
from content_account import ACCOUNT  # noqa: E402
from content_orders import ORDERS  # noqa: E402
from textgen import NearDupGuard, capitalise_first, expand, split_holdout, tidy  # noqa: E402

SEED = 20261202
INTENTS = {**ORDERS, **ACCOUNT}
N_TRAIN, N_TEST = 2400, 400
TEMPLATE_HOLDOUT = 0.34
TEST_HELD_OUT_SHARE = 0.4
ITEMS = ["wireless headphones", "running shoes", "coffee machine", "winter jacket", "laptop stand",
         "yoga mat", "phone case", "desk lamp", "backpack", "smart watch", "blender", "office chair",
         "sunglasses", "bluetooth speaker", "air fryer", "kids' bike", "electric toothbrush",
         "rain jacket", "gaming mouse", "duvet cover", "hiking boots", "kettle", "tablet", "jeans"]
CATEGORY = {**{i: "clothing" for i in ["running shoes", "winter jacket", "sunglasses", "rain jacket",
                                        "hiking boots", "jeans", "backpack"]},
            **{i: "electronics" for i in ["wireless headphones", "smart watch", "bluetooth speaker",
                                           "gaming mouse", "tablet", "electric toothbrush"]}}
CATEGORY_LINES = {  # intent -> item category -> alternative sentences; other categories are "home"
    "return_item": {
        "clothing": ["Clothing and shoes need to be unworn, with the tags still attached.",
                     "Please make sure the @item is unworn and still has its original tags."],
        "electronics": ["Please include all cables and accessories, and reset the @item to factory settings before packing it.",
                        "For electronics, pack every accessory and remove your personal data and accounts from the @item first."],
        "home": ["If the @item doesn't fit in a standard parcel, choose Collection in the return form and our courier will pick it up.",
                 "Larger home items can be collected from your address: select Collection when you start the return."],
    },
    "warranty_claim": {
        "clothing": ["Shoes and clothing are covered for manufacturing faults such as split seams or loose soles, not for normal wear.",
                     "For clothing and footwear, the warranty covers faults in materials or stitching rather than everyday wear and tear."],
        "electronics": ["A reset to factory settings sometimes solves the problem, so it's worth trying before sending the @item in.",
                        "Before you send it, please try a factory reset and a full charge, as that fixes many faults in electronics."],
        "home": ["Please keep your order confirmation, as our repair partner may ask for it.",
                 "Our repair partner may ask for the order confirmation, so please keep it to hand."],
    },
    "track_order": {
        "clothing": ["Clothing orders usually travel in a padded envelope that fits most letterboxes.",
                     "Fashion items are normally sent in a small parcel that fits through the letterbox."],
        "electronics": ["Electronics are shipped with signature on delivery, so someone needs to be home to receive the @item.",
                        "As the @item is an electronic item, the courier will ask for a signature at delivery."],
        "home": ["Bulky home items travel with our two-person delivery partner, who texts you a time slot the day before.",
                 "For larger home items, the delivery partner sends a text with a two-hour time slot the evening before."],
    },
    "delivery_problem": {
        "clothing": ["Small parcels like the @item are sometimes left in a parcel box or with the building's concierge.",
                     "Letterbox-sized parcels are often left in a safe place, so check any parcel box or porch."],
        "electronics": ["Electronics need a signature, so the courier may have left a card with a collection point instead.",
                        "Because electronics are signed for, look for a card from the courier naming a collection point."],
        "home": ["Large items are delivered by our two-person team, who always call before arriving.",
                 "Our two-person delivery team phones ahead for large items, so please check for a missed call."],
    },
}
NAMES = ["Laura", "Sam", "Priya", "Daniel", "Marta", "Kofi", "Elena", "Tom", "Aisha", "Lukas", "Mei", "Jonas"]
OPENERS = ["", "", "", "Hi,", "Hello,", "Hi there,", "Good morning,", "Hey,", "Hello team,", "Dear support,"]
URGENT = [" I need it by Friday.", " This is urgent.", " It's a birthday present, so I'm in a hurry.",
          " I need this sorted today."]
GREETINGS = ["Hi [name],", "Hello [name],", "Dear [name],", "Hi [name], thanks for contacting us.", "Hello,",
             "Hi there,", "Good day [name],"]
CLOSES = [["Is there anything else I can help you with?", "Let me know if there's anything else I can do for you.",
           "If you have any other questions, just reply to this message.", "Feel free to get back to us if anything is unclear.",
           "I hope this helps, and please reach out if you need anything else."],
          ["Kind regards, {{Website Name}} Customer Care", "Best wishes, the {{Website Name}} team",
           "Thank you for shopping with {{Website Name}}.", "Have a lovely day!", "Warm regards, [name], {{Website Name}} Support",
           "Thanks again for your patience."]]
HELP_LINE = ["You can also find answers to common questions in the Help Centre on {{Website Name}}.",
             "Our Help Centre on {{Website Name}} has step-by-step guides for this and other common questions.",
             "For more help, the Help Centre on {{Website Name}} explains each step with screenshots."]
FILLER = ["We want to make sure everything is resolved to your satisfaction.",
          "Our team is available seven days a week if you need further assistance.",
          "Thank you for your patience while we look into this for you."]
URGENT_LINE = ["I understand you're short on time, so I've flagged your message as a priority.",
               "Since this is urgent, I've marked your request as a priority for our team."]


def order_ref(rng: random.Random) -> tuple[str, str]:
    """(how the prompt names the order, how the answer names it)."""
    r = rng.random()
    if r < 0.45:  # a 10-12 digit number after "order" or "purchase"
        number = str(rng.randrange(10 ** 9, 10 ** rng.choice([10, 11, 12])))
        word = rng.choice(["order", "order", "purchase", "order number", "order #"])
        said = f"{word}{number}" if word.endswith("#") else f"{word} {number}"
        return rng.choice(["", "my "]) + said, f"{'purchase' if word == 'purchase' else 'order'} {number}"
    if r < 0.7:
        return rng.choice(["order {{Order Number}}", "my order {{Order Number}}"]), "order {{Order Number}}"
    if r < 0.82:
        return rng.choice(["order <ORDER_ID>", "my order <ORDER_ID>"]), "order <ORDER_ID>"
    return "my order", "your order"


def build_pools(rng: random.Random) -> dict:
    """Split prompt templates, branch phrases and items into shared and test-only parts."""
    pools = {"intents": {}}
    for name, spec in INTENTS.items():
        shared, held = split_holdout(spec["prompts"], rng, TEMPLATE_HOLDOUT)
        branches = {}
        for bname, branch in spec["branches"].items():
            b_shared, b_held = split_holdout(branch["prompt"], rng, 0.34)
            branches[bname] = {"train": b_shared, "test": b_held}
        pools["intents"][name] = {"train": shared, "test": held, "branches": branches}
    i_shared, i_held = split_holdout(ITEMS, rng, 0.25)
    pools["items"] = {"train": i_shared, "test": i_shared + i_held}
    return pools


def _test_pick(shared: list, held: list, split: str, rng: random.Random) -> list:
    return held if split == "test" and held and rng.random() < TEST_HELD_OUT_SHARE else shared


_QUESTION = re.compile(r"(how|can|is|when|where|do|what|why|will|are|could)\\b", re.I)


def join_branch(text: str, phrase: str) -> str:
    """Put the situation phrase where the template's ``{branch}`` was.

    After a sentence end ("? ") the phrase starts a new sentence; otherwise its own leading
    comma/full stop or a space joins it to the sentence before.
    """
    body = phrase.lstrip(" ,.")
    if not body:
        return re.sub(r"\s*BRANCHSLOT", "", text).strip()
    if re.search(r"[.?!]\s+BRANCHSLOT", text):
        return re.sub(r"\s+BRANCHSLOT", " " + capitalise_first(body), text)
    lead = phrase[: len(phrase) - len(body)].strip() or ""
    glue = (lead + " ") if lead else " "
    return re.sub(r"\s*BRANCHSLOT", glue + (capitalise_first(body) if lead == "." else body), text)


def make_prompt(intent: str, pools: dict, split: str, rng: random.Random) -> tuple[str, dict]:
    """A customer message and the details its answer must follow."""
    pool = pools["intents"][intent]
    branch = rng.choice(sorted(pool["branches"]))
    bp = pool["branches"][branch]
    item = rng.choice(pools["items"][split])
    said, ref = order_ref(rng)
    phrase = rng.choice(_test_pick(bp["train"], bp["test"], split, rng)).replace("{item}", item)
    slots = {"order": [said], "item": [item], "branch": ["BRANCHSLOT"]}
    text = capitalise_first(expand(rng.choice(_test_pick(pool["train"], pool["test"], split, rng)), rng, slots))
    text = join_branch(text, phrase)
    last = re.split(r"[.?!] ", text)[-1]
    if not text.endswith((".", "?", "!")):
        text += "?" if _QUESTION.match(last) else rng.choice([".", "", "."])
    # The answer may only name the item when the customer did.
    named = item.lower() in text.lower()
    details = {"intent": intent, "branch": branch, "item": item if named else None, "ref": ref,
               "name": None, "urgent": False}
    if rng.random() < 0.2:
        text = (text if text.endswith((".", "?", "!")) else text + ".") + rng.choice(URGENT)
        details["urgent"] = True
    opener = rng.choice(OPENERS)
    text = f"{opener} {text}" if opener else text
    if rng.random() < 0.3:
        details["name"] = rng.choice(NAMES)
        text += rng.choice([f" Thanks, {details['name']}", f" - {details['name']}", f" Regards, {details['name']}"])
    return noise.apply_light(tidy(text), rng), details


def make_answer(details: dict, rng: random.Random) -> str:
    """The support answer for a prompt's details (intent, branch, item, order, name, urgency)."""
    spec = INTENTS[details["intent"]]
    parts = []
    if details["name"]:
        parts.append(rng.choice(["Hi {n},", "Hello {n},", "Dear {n},"]).format(n=details["name"]))
    elif rng.random() < 0.7:
        parts.append(rng.choice(GREETINGS))
    parts += [rng.choice(alts) for alts in spec["open"]]
    branch = [rng.choice(alts) for alts in spec["branches"][details["branch"]]["body"]]
    body = [rng.choice(alts) for alts in spec["body"]]
    lines = CATEGORY_LINES.get(details["intent"])
    if lines and details["item"]:
        body.append(rng.choice(lines[CATEGORY.get(details["item"], "home")]))
    rng.shuffle(body)  # agents order the general advice differently
    parts += branch + body if rng.random() < 0.7 else body[:1] + branch + body[1:]
    if details["urgent"]:
        parts.insert(len(parts) - rng.randint(0, 1), rng.choice(URGENT_LINE))
    closes = [rng.choice(alts) for alts in CLOSES if rng.random() < 0.8]
    if rng.random() < 0.6:
        parts.append(rng.choice(HELP_LINE))
    extra = [line for line in HELP_LINE + FILLER if line not in parts]
    rng.shuffle(extra)
    while len(" ".join(parts + closes).split()) < 60:  # answers have at least 60 words
        parts.append(extra.pop())
    parts += closes
    text = " ".join(parts).replace("@order", details["ref"]).replace("@item", details["item"] or "item")
    # "your order" at a sentence start reads "Your order".
    return re.sub(r"(^|[.!?] )your order", lambda m: m.group(1) + "Your order", text)


def sample_split(pools: dict, split: str, n: int, rng: random.Random, taken: set[str],
                 guard: NearDupGuard, details_too: bool = False) -> list[dict]:
    """``n`` pairs of ``split``, intents about equally often, no prompt repeated or in ``taken``.

    A pair that ``guard`` finds a near-duplicate (prompt and answer together) of one already drawn
    is redrawn, so tailorlm's default curation keeps the pairs. ``details_too`` adds each message's
    situation (the intent's branch) as a field (``--details``; the committed files have none).
    """
    names = sorted(INTENTS)
    rows, seen = [], set(taken)
    for i in range(n * 100):
        if len(rows) == n:
            break
        intent = names[len(rows) % len(names)] if rng.random() < 0.7 else rng.choice(names)
        prompt, details = make_prompt(intent, pools, split, rng)
        key = " ".join(re.sub(r"[^a-z0-9 ]+", " ", prompt.lower()).split())
        if key in seen:
            continue
        answer = make_answer(details, rng)
        if not guard.admit(prompt + "\n" + answer, group=f"{intent}/{details['branch']}"):
            continue
        seen.add(key)
        rows.append({"id": f"{split}-{len(rows):05d}", "prompt": prompt, "completion": answer, "intent": intent,
                     **({"situation": details["branch"]} if details_too else {})})
    if len(rows) < n:
        raise RuntimeError(f"could not draw {n} unique {split} prompts; add phrasing")
    return rows


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
    ap.add_argument("--details", action="store_true",
                    help="add each message's situation as a field (for measuring retrieval, bench/retrieval_pick.py)")
    args = ap.parse_args(argv)
    pools = build_pools(random.Random(args.seed))
    guard = NearDupGuard(NAMES)
    train = sample_split(pools, "train", N_TRAIN, random.Random(args.seed + 1), set(), guard, args.details)
    taken = {" ".join(re.sub(r"[^a-z0-9 ]+", " ", r["prompt"].lower()).split()) for r in train}
    test = sample_split(pools, "test", N_TEST, random.Random(args.seed + 2), taken, guard, args.details)
    write_jsonl(args.out / "train.jsonl", train)
    write_jsonl(args.out / "test.jsonl", test)
    print(f"{len(INTENTS)} intents, {len(train)} train, {len(test)} test -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
