"""``spec check``'s length-budget check: token counts from the base model's tokenizer, no model loaded.

``data.max_seq_len`` budgets each example's own part (its turns and answer); the instruction and
label list every prompt shares are counted once. Before any curation runs this check reads the
tokenizer (the ``tokenizers`` library alone: fast, no torch) and the first records of each source,
and reports with the token counts:

* the shared instruction plus the budget not fitting the base model's context window;
* a typical example (the median of the sampled records) longer than the budget, which would
  quarantine most records as ``too_long`` under ``length_policy: drop``.

The chat template's own tokens (role headers) are estimated with :data:`TEMPLATE_TOKENS`; the data
stage measures exactly. When no tokenizer is on disk the check is skipped (nothing is downloaded).
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import TailorSpec

TEMPLATE_TOKENS = 5  # "<|im_start|>role\n" ... "<|im_end|>\n" around one turn
SAMPLE = 200  # records read per source


def _tokenizer_file(spec: "TailorSpec") -> Path | None:
    """tokenizer.json of the base model from disk only: a local folder, the alias cache, the HF cache."""
    from ..train.checks import _alias_cache_config, local_base_dir  # the train checks' config look-up

    ref = spec.model.base
    p = local_base_dir(spec)
    if p is not None:
        found = p / "tokenizer.json"
    elif "/" not in ref:
        cfg = _alias_cache_config(ref)
        found = cfg.parent / "tokenizer.json" if cfg else None
    else:
        try:
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(ref, "tokenizer.json", revision=spec.model.revision)
        except Exception:  # noqa: BLE001 - an odd id or cache layout: the load step reports it later
            return None
        found = Path(hit) if isinstance(hit, str) else None
    return found if found is not None and found.exists() else None


def _context_window(tok_file: Path) -> int | None:
    cfg = tok_file.parent / "config.json"
    if not cfg.exists():
        return None
    try:
        return json.loads(cfg.read_text()).get("max_position_embeddings")
    except (OSError, ValueError):
        return None


def _sample_examples(spec: "TailorSpec") -> list[dict[str, Any]]:
    """Up to :data:`SAMPLE` parsed examples from each source (invalid records are left to the data stage)."""
    from ..data.errors import DataError, RecordProblem
    from ..data.formats import to_example
    from ..data.ingest import READERS, detect_encoding, expand_sources

    out: list[dict[str, Any]] = []
    try:
        files = expand_sources(spec.data.sources, spec.root)
    except DataError:
        return out
    for sf in files:
        try:
            detect_encoding(sf)
            for k, row in enumerate(READERS[sf.format](sf)):
                if k >= SAMPLE:
                    break
                if row.raw is None or row.code:
                    continue
                try:
                    out.append(to_example(json.loads(row.raw), sf.records, spec.data.fields, spec.objective.task))
                except (RecordProblem, ValueError, TypeError, KeyError):
                    continue
        except (DataError, OSError, UnicodeError):
            continue
    return out


def _own_text(ex: dict[str, Any]) -> str:
    """The example's own text: its non-system turns and answer (a raw text for continued pretraining)."""
    if ex.get("kind") == "text":
        return str(ex.get("text") or "")
    msgs = ex.get("prompt") or []
    if isinstance(msgs, str):
        msgs = json.loads(msgs)
    return "\n".join(m.get("content", "") for m in msgs if m.get("role") != "system") + "\n" + str(ex.get("completion") or "")


def check_length_budget(spec: "TailorSpec", check_files: bool) -> list[str]:
    """Problems with ``data.max_seq_len`` that would fail or empty the data stage (see module doc)."""
    if not check_files or spec.data.length_policy == "truncate":
        return []
    tok_file = _tokenizer_file(spec)
    if tok_file is None:
        return []
    from tokenizers import Tokenizer

    from ..prompting import system_prompt

    tok = Tokenizer.from_file(str(tok_file))
    budget = spec.data.max_seq_len
    out = []
    cpt = spec.objective.task == "continued_pretraining"
    shared = 0 if cpt else len(tok.encode(system_prompt(spec.objective)).ids) + TEMPLATE_TOKENS
    context = _context_window(tok_file)
    if context and shared + budget > context:
        out.append(f"data.max_seq_len: the shared instruction ({shared} tokens with the listed labels) plus "
                   f"data.max_seq_len ({budget}) exceed the base model's context window ({context} tokens). "
                   f"Shorten objective.instruction or set data.max_seq_len to {max(context - shared, 16)} or less.")
    examples = _sample_examples(spec)
    if examples:
        turns = 0 if cpt else 2 * TEMPLATE_TOKENS
        lengths = [n + turns for n in (len(e.ids) for e in tok.encode_batch([_own_text(x) for x in examples]))]
        median = int(statistics.median(lengths))
        if median > budget:
            p95 = sorted(lengths)[int(0.95 * (len(lengths) - 1))]
            out.append(f"data.max_seq_len: a typical example needs about {median} tokens of its own (median of the "
                       f"first {len(lengths)} records; 95th percentile {p95}), over the budget of {budget}, so most "
                       f"records would be quarantined as too_long. Set data.max_seq_len to {p95} or more, or "
                       "length_policy: truncate.")
    return out
