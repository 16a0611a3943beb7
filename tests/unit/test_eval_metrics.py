"""Each metric against hand-computed values on small inputs, edge cases included."""

from __future__ import annotations

import pytest

from tailorlm.evaluate import metrics as M

LABELS = ["card_lost", "check_balance", "transfer_money"]


def test_accuracy_uses_answer_normalization():
    # "Card_Lost." normalizes to "card_lost" (first line, trimmed, trailing dot, lower-case).
    preds = ["Card_Lost.", "check_balance\nextra words", "transfer_money", "card_lost"]
    refs = ["card_lost", "check_balance", "card_lost", "card_lost"]
    assert M.accuracy(preds, refs, LABELS) == pytest.approx(3 / 4)


def test_macro_and_micro_f1_hand_computed():
    refs = ["card_lost", "card_lost", "check_balance", "transfer_money"]
    preds = ["card_lost", "check_balance", "check_balance", "transfer_money"]
    # card_lost: P=1/1, R=1/2 -> F1=2/3; check_balance: P=1/2, R=1 -> 2/3; transfer_money: 1.
    assert M.macro_f1(preds, refs, LABELS) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    # micro over the label set: TP=3, FP=1, FN=1 -> P=R=F1=3/4.
    assert M.micro_f1(preds, refs, LABELS) == pytest.approx(3 / 4)


def test_unknown_label_counts_as_a_miss_not_a_class():
    refs = ["card_lost", "check_balance"]
    preds = ["i am sorry", "check_balance"]
    # card_lost: TP=0 FN=1 -> F1=0; check_balance: 1; transfer_money: neither a reference nor a
    # prediction, so it is left out of the average.
    assert M.macro_f1(preds, refs, LABELS) == pytest.approx(1 / 2)
    # micro: TP=1, FP=0 (the unknown answer is outside the label set), FN=1 -> P=1, R=1/2, F1=2/3.
    assert M.micro_f1(preds, refs, LABELS) == pytest.approx(2 / 3)
    report = M.per_class_report(preds, refs, LABELS)
    assert report["confusion"]["columns"][-1] == "(other)"
    assert report["confusion"]["matrix"][0] == [0, 0, 0, 1]  # true card_lost -> predicted (other)
    assert report["per_class"]["check_balance"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}


def test_empty_prediction_scores_zero_everywhere():
    assert M.accuracy([""], ["card_lost"], LABELS) == 0.0
    assert M.exact_match([""], ["a b"]) == 0.0
    assert M.token_f1([""], ["a b"]) == 0.0
    assert M.token_f1([""], [""]) == 1.0  # both empty: SQuAD convention
    assert M.METRICS["rouge1"]([""], ["a b"], []) == 0.0
    assert M.json_validity([""], ["{}"]) == 0.0


def test_empty_corpus_is_zero_not_an_error():
    for name, fn in M.METRICS.items():
        assert fn([], [], LABELS) == 0.0, name


def test_token_f1_hand_computed():
    # pred tokens [the, cat, sat], ref [the, cat, is, here]: common 2, P=2/3, R=2/4 -> F1=4/7.
    assert M.token_f1_one("The cat sat.", "the cat is here") == pytest.approx(4 / 7)


def test_exact_match_normalizes_unicode_and_punctuation():
    assert M.text_match("Café, OK!", "café ok")
    assert M.text_match("ﬁne", "fine")  # NFKC folds the ligature
    assert not M.text_match("cafe", "café")


def test_rouge_keeps_non_ascii_words():
    # The package's default tokenizer would drop "über" and "straße" entirely; ours keeps them.
    assert M.METRICS["rouge1"](["über straße"], ["über straße"], []) == pytest.approx(1.0)
    # unigrams: pred [der, hund], ref [der, katze] -> P=R=1/2 -> F1=1/2; bigrams: none shared.
    assert M.METRICS["rouge1"](["der Hund"], ["der Katze"], []) == pytest.approx(0.5)
    assert M.METRICS["rouge2"](["der Hund"], ["der Katze"], []) == 0.0
    # LCS of [a, b, c, d] and [a, c, d]: 3 -> P=3/4, R=1 -> F1=6/7.
    assert M.METRICS["rougeL"](["a b c d"], ["a c d"], []) == pytest.approx(6 / 7)


def test_bleu_and_chrf_match_sacrebleu_scaled_to_fractions():
    import sacrebleu

    preds, refs = ["the cat sat on the mat"], ["the cat sat on a mat"]
    assert M.bleu(preds, refs) == pytest.approx(sacrebleu.corpus_bleu(preds, [refs]).score / 100)
    assert M.bleu(["identical sentence here ok"], ["identical sentence here ok"]) == pytest.approx(1.0)
    assert M.chrf(["naïve café"], ["naïve café"]) == pytest.approx(1.0)
    assert 0.0 < M.chrf(preds, refs) < 1.0


def test_bleu_hand_computed():
    # hyp "the cat sat on the mat" vs ref "the cat sat on a mat" (same length, brevity penalty 1):
    # 1-gram 5/6, 2-gram 3/5 (the cat, cat sat, sat on), 3-gram 2/4, 4-gram 1/3 (the cat sat on).
    expected = (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert M.bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(expected)
    # No shared 4-gram at all: BLEU is 0 (sacrebleu's default smoothing keeps zero counts at zero).
    assert M.bleu(["completely different words here"], ["the cat sat on a mat"]) == pytest.approx(0.0, abs=1e-3)


def test_chrf_hand_computed():
    # chrF (beta 2, character n-grams up to 6, spaces removed): precision and recall averaged over
    # the orders the reference has, then F_beta = 5PR / (4P + R).
    # "ab" vs "ac": unigram P=R=1/2, bigram 0 -> P=R=1/4 -> 1/4.
    assert M.chrf(["ab"], ["ac"]) == pytest.approx(1 / 4)
    # "abc" vs "abd": unigram 2/3, bigram 1/2 (ab), trigram 0 -> P=R=7/18.
    assert M.chrf(["abc"], ["abd"]) == pytest.approx(7 / 18)
    # "ab cd" vs "ab": "abcd" vs "ab"; P=(2/4 + 1/3)/2 = 5/12, R=1 -> 25/32.
    assert M.chrf(["ab cd"], ["ab"]) == pytest.approx(25 / 32)


def test_json_validity_and_schema_match():
    refs = ['{"amount": 10, "currency": "USD"}'] * 4
    preds = [
        '{"amount": 25, "currency": "EUR"}',  # same keys and types: valid, schema match
        '```json\n{"currency": "USD", "amount": 1.5}\n```',  # fenced, key order differs: match
        '{"amount": "10", "currency": "USD"}',  # amount is a string: valid, no match
        "amount=10",  # not JSON
    ]
    assert M.json_validity(preds, refs) == pytest.approx(3 / 4)
    assert M.schema_match(preds, refs) == pytest.approx(2 / 4)


def test_percentiles_hand_computed():
    vals = [10.0, 20.0, 30.0, 40.0, 50.0]
    assert M.percentile(vals, 50) == 30.0
    assert M.percentile(vals, 95) == pytest.approx(48.0)  # linear: 40 + 0.8 * 10
    assert M.percentile([], 95) == 0.0


def test_task_metric_names_match_spec_checks():
    from tailorlm.spec.checks import COMMON_METRICS, CONFIDENCE_METRICS, TASK_METRICS

    for task, names in M.TASK_QUALITY.items():
        # Every quality metric a task reports may be used in its criteria, and vice versa.
        assert set(names) <= TASK_METRICS[task] | COMMON_METRICS, task
        assert TASK_METRICS[task] - {"perplexity", "eval_loss"} - CONFIDENCE_METRICS <= set(names), task
