"""What the copy bias may copy (``tailorlm.inference.decode.CopyLookup``) and the repeat limit that
stops a looping answer (``SamplingParams.no_repeat``, the recipe's ``repeat_limit``)."""

from __future__ import annotations

import pytest

from tailorlm.inference.decode import CopyLookup, _Row

# Token 7 opens every turn; [7, 8] is the assistant header, [7, 1] the user's.
USER, REPLY = [7, 1], [7, 8]


def _prompt(example_q, example_a, message):
    return USER + example_q + [2] + REPLY + example_a + [2] + USER + message + [2] + REPLY


def test_the_lookup_follows_the_example_answer_not_the_message():
    # The message shares a span (30, 31) with the example's answer, then goes on in its own words (90, 91).
    look = CopyLookup(_prompt([20, 21], [30, 31, 32, 33], [30, 31, 90, 91]), header=REPLY)
    assert look.next_token([]) == 30  # the answer opens as the example's did
    assert look.next_token([44, 30, 31]) == 32  # the example's next word, not the message's (90: an echo)
    assert look.next_token([44, 90, 91]) is None  # a span only the message has is not copied
    # Without a header to tell the turns apart, every span may be copied (last occurrence wins).
    assert CopyLookup(_prompt([20, 21], [30, 31, 32, 33], [30, 31, 90, 91])).next_token([44, 30, 31]) == 90


def test_numbers_come_from_the_message_and_the_example_resumes_after_them():
    digit = lambda t: t >= 100  # noqa: E731 - tokens 100+ stand for digits
    # Example: "... for order 101 102 ..."; message: "... for order 105 106, thanks (34)".
    look = CopyLookup(_prompt([40, 50, 30, 101, 102], [50, 30, 101, 102, 33, 35, 36], [40, 50, 30, 105, 106, 34]),
                      header=REPLY, is_digit=digit)
    assert look.next_token([44, 50, 30]) == 105  # the message's number, not the example's 101
    assert look.next_token([44, 50, 30, 105]) == 106  # all its digits
    assert look.next_token([44, 50, 30, 105, 106]) is None  # then not the message's next word (34: an echo)
    assert look.next_token([44, 50, 30, 105, 106, 33, 35]) == 36  # the example's answer takes over again


def test_the_repeat_guard_names_the_tokens_that_would_repeat_a_run():
    row = _Row(ids=[1, 2, 3, 1, 2])
    assert row.repeats(3) == {3}  # "1 2" was followed by 3: writing 3 repeats the run "1 2 3"
    assert row.repeats(0) == set() and _Row(ids=[1]).repeats(3) == set()
    row.ids += [4, 1, 2]
    assert row.repeats(3) == {3, 4}  # indexed as the answer grows


class _Words:
    """A tokenizer stand-in: one token per word."""

    def encode(self, text, add_special_tokens=False):
        return text.split()


def test_the_repeat_limit_is_one_more_than_the_longest_repeat_of_a_training_answer():
    from tailorlm.prompting import prompt_recipe, repeat_limit
    from tailorlm.spec import ObjectiveSpec

    ten = " ".join(f"w{i}" for i in range(10))
    assert repeat_limit(_Words(), [f"{ten} and again {ten}", "short answer"]) == 11
    assert repeat_limit(_Words(), ["a b a b", "no repeats here"]) == 8  # never below 8
    objective = ObjectiveSpec(task="generation")
    assert prompt_recipe(objective, [], False, None, 1, 3.0, 19)["repeat_limit"] == 19
    assert prompt_recipe(objective, [], False, None, 1, 0.0, 19)["repeat_limit"] == 0  # no copying, no limit
    assert prompt_recipe(objective, [], False, None, 0, 3.0, 19)["repeat_limit"] == 0


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    from conftest import build_tiny_llama

    from tailorlm.models import load_base

    out = tmp_path_factory.mktemp("tiny")
    build_tiny_llama(out)  # its greedy answers repeat one token
    return load_base(str(out), "cpu", "float32")


def _runs(ids, n):
    return [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]


def test_a_looping_answer_is_cut_by_the_repeat_limit(loaded):
    from tailorlm.inference.decode import Decoder, SamplingParams

    class Recording(Decoder):
        def _advance(self, rows, *args, **kwargs):
            self.rows = rows
            return super()._advance(rows, *args, **kwargs)

    prompt = loaded.tokenizer.encode("hello there, how are you")
    answers = {}
    for limit in (0, 4):
        decoder = Recording(loaded)
        for _ in decoder.run(prompt, SamplingParams(max_tokens=48, temperature=0, no_repeat=limit)):
            pass
        answers[limit] = decoder.rows[0].ids
    plain, guarded = answers[0], answers[4]
    assert len(set(_runs(plain, 4))) < len(_runs(plain, 4))  # the tiny random model loops
    assert len(guarded) > 4 and len(set(_runs(guarded, 4))) == len(_runs(guarded, 4))  # never a run twice


def test_the_limit_never_leaves_a_constrained_answer_without_a_token(loaded):
    import torch

    from tailorlm.inference.decode import Decoder, SamplingParams

    decoder = Decoder(loaded)
    vocab = loaded.model.config.vocab_size
    rows = [_Row(ids=[4, 5, 6, 4, 5]), _Row(ids=[4, 5, 6, 4, 5])]  # writing 6 would repeat "4 5 6"
    logits = torch.zeros(2, vocab)
    logits[:, 6] = 1.0
    params = SamplingParams(max_tokens=4, temperature=0, no_repeat=3)
    free, _ = decoder._choose(logits[:1], [1, 2], rows[:1], params, None, None)
    assert int(free[0]) != 6  # banned when other tokens are allowed
    forced, _ = decoder._choose(logits[:1], [1, 2], rows[1:], params, None, lambda _ids: [6])
    assert int(forced[0]) == 6  # the only token the constraint allows is written, repeat or not
