"""Blind human review: base vs fine-tuned answers in random order, graded by a domain expert.

``export_review`` reads an evaluation's predictions.jsonl and writes, under ``<report>/review/``:

* ``review.csv``: ``pair_id, input, reference, answer_a, answer_b, grade, comment`` (grade empty);
* ``review.html``: the same pairs as a static page; grades are kept in the browser's local storage and
  a button downloads the filled CSV (no server, works offline);
* ``key.json``: which system is A and which is B for every pair (kept away from the grader).

``import_review`` reads a graded CSV, unblinds it with the key and reports the candidate's win rate:
``wins / (wins + losses + ties)``, and the same with ties counted as half a win. Grades: ``A``,
``B``, ``tie``, ``both_bad``; ``both_bad`` counts as a tie in the rates and is also reported on its own.
"""

from __future__ import annotations

import csv
import html
import io
import json
import random
from pathlib import Path
from typing import Any

from ..artifacts import atomic_write_json, atomic_write_text
from ..errors import UserError
from ..systems import CANDIDATE

GRADES = ("A", "B", "tie", "both_bad")
FIELDS = ["pair_id", "input", "reference", "answer_a", "answer_b", "grade", "comment"]


def read_predictions(report_dir: Path) -> dict[str, dict[str, dict]]:
    """``{system: {example id: record}}`` from a report folder's predictions.jsonl."""
    path = report_dir / "predictions.jsonl"
    if not path.exists():
        raise UserError(f"{path}: no predictions here. Pass the folder of an evaluation "
                        "(.tailor/reports/<eval_id>) or run 'tailorlm eval' first.")
    out: dict[str, dict[str, dict]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            rec = json.loads(line)
            out.setdefault(rec["system"], {})[str(rec["id"])] = rec
    return out


def build_pairs(preds: dict[str, dict[str, dict]], baseline: str, candidate: str, sample: int,
                seed: int) -> tuple[list[dict], dict[str, dict]]:
    """(CSV rows, key): ``sample`` examples both systems answered, A/B order drawn per pair."""
    for name in (baseline, candidate):
        if name not in preds:
            raise UserError(f"system {name!r} is not in this evaluation (systems: {', '.join(preds)}). "
                            "Set eval.review.baseline / candidate or pass --baseline / --candidate.")
    ids = sorted(set(preds[baseline]) & set(preds[candidate]))
    if ids and "prediction" not in preds[baseline][ids[0]]:
        raise UserError("this evaluation has no generated answers to review (continued pretraining is scored by "
                        "token loss); human review applies to sft tasks.")
    rng = random.Random(seed)
    if sample and sample < len(ids):
        ids = sorted(rng.sample(ids, sample))
    rows, key = [], {}
    for n, ex_id in enumerate(ids, 1):
        pair_id = f"p{n:04d}"
        base, cand = preds[baseline][ex_id], preds[candidate][ex_id]
        cand_is_a = rng.random() < 0.5
        a, b = (cand, base) if cand_is_a else (base, cand)
        rows.append({"pair_id": pair_id, "input": base.get("input", ""), "reference": base.get("reference", ""),
                     "answer_a": a["prediction"], "answer_b": b["prediction"], "grade": "", "comment": ""})
        key[pair_id] = {"id": ex_id, "A": candidate if cand_is_a else baseline,
                        "B": baseline if cand_is_a else candidate}
    return rows, key


def to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def to_html(rows: list[dict], title: str) -> str:
    """A static grading page; grades live in localStorage and download as the review CSV."""
    esc = html.escape
    cards = []
    for r in rows:
        pid = esc(r["pair_id"])
        radios = " ".join(
            f'<label><input type="radio" name="{pid}" value="{g}"> {g.replace("_", " ")}</label>' for g in GRADES)
        cards.append(
            f'<section data-pair="{pid}"><h3>{pid}</h3><p class="in">{esc(r["input"])}</p>'
            f'<p class="ref">Reference: {esc(r["reference"])}</p>'
            f'<div class="ab"><div><b>A</b><pre>{esc(r["answer_a"])}</pre>'
            f'</div><div><b>B</b><pre>{esc(r["answer_b"])}</pre></div></div><div>{radios}</div>'
            f'<input class="comment" placeholder="comment (optional)"></section>')
    data = json.dumps(rows).replace("</", "<\\/")
    return _PAGE.replace("__TITLE__", esc(title)).replace("__CARDS__", "\n".join(cards)).replace("__DATA__", data)


def export_review(report_dir: str | Path, baseline: str = "base", candidate: str = CANDIDATE,
                  sample: int = 50, seed: int = 0) -> dict[str, str]:
    """Write review.csv, review.html and key.json under ``<report_dir>/review/``; returns their paths."""
    report_dir = Path(report_dir)
    rows, key = build_pairs(read_predictions(report_dir), baseline, candidate, sample, seed)
    out = report_dir / "review"
    paths = {
        "csv": atomic_write_text(out / "review.csv", to_csv(rows)),
        "html": atomic_write_text(out / "review.html", to_html(rows, f"Blind review: {report_dir.name}")),
        "key": atomic_write_json(out / "key.json", {"baseline": baseline, "candidate": candidate, "pairs": key}),
    }
    return {k: str(v) for k, v in paths.items()}


def parse_grades(csv_path: Path, key: dict[str, dict]) -> tuple[dict[str, str], list[str]]:
    """(pair_id -> grade, ungraded pair ids); a bad grade or unknown pair is an error naming its line."""
    grades, ungraded = {}, []
    with open(csv_path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.DictReader(f), 2):  # line 1 is the header
            pid = (row.get("pair_id") or "").strip()
            if pid not in key:
                raise UserError(f"{csv_path}:{line}: pair_id {pid!r} is not in this review's key.json; grade the CSV "
                                "exported for this evaluation.")
            grade = (row.get("grade") or "").strip()
            if not grade:
                ungraded.append(pid)
                continue
            match = {g.lower(): g for g in GRADES}.get(grade.lower().replace(" ", "_"))
            if match is None:
                raise UserError(f"{csv_path}:{line}: grade {grade!r} for {pid} is not one of {', '.join(GRADES)}.")
            grades[pid] = match
    return grades, ungraded


def win_rate(grades: dict[str, str], key: dict[str, dict], candidate: str) -> dict[str, Any]:
    """Unblind the grades and count the candidate's wins, losses and ties."""
    wins = losses = ties = both_bad = 0
    for pid, g in grades.items():
        if g in ("tie", "both_bad"):
            ties += 1
            both_bad += g == "both_bad"
        elif key[pid][g] == candidate:
            wins += 1
        else:
            losses += 1
    n = wins + losses + ties
    return {"graded": n, "wins": wins, "losses": losses, "ties": ties, "both_bad": both_bad,
            "win_rate": wins / n if n else None, "win_rate_ties_half": (wins + ties / 2) / n if n else None}


def import_review(report_dir: str | Path, csv_path: str | Path) -> dict[str, Any]:
    """Read a graded CSV, write ``review/results.json`` and return the win rate summary."""
    report_dir, csv_path = Path(report_dir), Path(csv_path)
    key_path = report_dir / "review" / "key.json"
    if not key_path.exists():
        raise UserError(f"{key_path}: no review key. Run 'tailorlm review export' for this evaluation first.")
    key = json.loads(key_path.read_text(encoding="utf-8"))
    grades, ungraded = parse_grades(csv_path, key["pairs"])
    result = {"baseline": key["baseline"], "candidate": key["candidate"], "csv": str(csv_path),
              "ungraded": ungraded, **win_rate(grades, key["pairs"], key["candidate"])}
    atomic_write_json(report_dir / "review" / "results.json", result)
    return result


_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title><style>
body{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:0 auto;padding:20px;background:#f6f7f9}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px;margin:12px 0}
.ab{display:grid;grid-template-columns:1fr 1fr;gap:12px}pre{white-space:pre-wrap;background:#f1f3f6;padding:8px;margin:4px 0}
.ref{color:#5b6475}.comment{width:100%;margin-top:6px}label{margin-right:14px}button{font-size:15px;padding:6px 14px}
</style></head><body><h1>__TITLE__</h1><p>For each message, pick the better answer (A or B), <i>tie</i>, or
<i>both bad</i>. The order is random and the systems are hidden. Grades are saved in this browser; click
<b>Download grades</b> and give the CSV back (<code>tailorlm review import FILE</code>).</p>
<p><button id="dl">Download grades (CSV)</button> <span id="count"></span></p>
__CARDS__
<script>
const rows=__DATA__;const store="tailorlm-review-"+document.title;
const saved=JSON.parse(localStorage.getItem(store)||"{}");
function state(){const s={};document.querySelectorAll("section").forEach(sec=>{const p=sec.dataset.pair;
const c=sec.querySelector("input:checked");s[p]={grade:c?c.value:"",comment:sec.querySelector(".comment").value};});return s;}
function refresh(){const s=state();localStorage.setItem(store,JSON.stringify(s));
document.getElementById("count").textContent=Object.values(s).filter(x=>x.grade).length+" / "+rows.length+" graded";}
document.querySelectorAll("section").forEach(sec=>{const v=saved[sec.dataset.pair];if(v){sec.querySelector(".comment").value=v.comment||"";
const r=sec.querySelector('input[value="'+v.grade+'"]');if(r)r.checked=true;}sec.addEventListener("input",refresh);});
function q(x){return '"'+String(x).replace(/"/g,'""')+'"';}
document.getElementById("dl").onclick=()=>{const s=state();const head=["pair_id","input","reference","answer_a","answer_b","grade","comment"];
const lines=[head.join(",")].concat(rows.map(r=>[r.pair_id,r.input,r.reference,r.answer_a,r.answer_b,s[r.pair_id].grade,s[r.pair_id].comment].map(q).join(",")));
const a=document.createElement("a");a.href=URL.createObjectURL(new Blob([lines.join("\\n")+"\\n"],{type:"text/csv"}));
a.download="review-graded.csv";a.click();};refresh();
</script></body></html>
"""
