"""Label masks, packing and batching of the train stage (tokenizer only, plus the tiny model)."""

from __future__ import annotations

import json

import pytest
import torch

from tailorlm.prompting import build_messages
from tailorlm.spec import ObjectiveSpec
from tailorlm.train.collate import collate, pack_rows, packing_efficiency, plan_batches
from tailorlm.train.tokenize import IGNORE, Encoded, EncodingError, encode_sft, encode_text, show_labels

OBJ = ObjectiveSpec(task="classification", instruction="Classify the message.")
LABELS = ["card_lost", "check_balance"]


def row(text="I lost my card", completion="card_lost", rid="r1"):
    return {"id": rid, "prompt": json.dumps([{"role": "user", "content": text}]), "completion": completion}


def test_sft_labels_cover_only_completion_and_eos(tokenizer):
    enc = encode_sft(row(), tokenizer, OBJ, LABELS)
    assert len(enc.input_ids) == len(enc.labels)
    assert enc.labels[-1] == tokenizer.eos_token_id == enc.input_ids[-1]
    labelled = [t for t, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE]
    assert tokenizer.decode(labelled) == "card_lost<|im_end|>"
    # Everything before the answer is masked, and it is exactly the evaluation's generation prompt.
    first = next(i for i, lab in enumerate(enc.labels) if lab != IGNORE)
    assert all(lab == IGNORE for lab in enc.labels[:first])
    prompt = tokenizer.apply_chat_template(build_messages(row(), OBJ, LABELS), add_generation_prompt=True,
                                           tokenize=True, return_dict=True)["input_ids"]
    assert enc.input_ids[:first] == list(prompt)
    assert "Labels: card_lost, check_balance" in tokenizer.decode(enc.input_ids[:first])


def test_sft_preview_marks_loss_tokens(tokenizer):
    pairs = show_labels(encode_sft(row(), tokenizer, OBJ, LABELS), tokenizer)
    assert "".join(t for t, loss in pairs if loss) == "card_lost<|im_end|>"


def test_sft_too_long_or_empty_names_the_record(tokenizer):
    with pytest.raises(EncodingError, match=r"record 'r9'.*budget of 10 \(data.max_seq_len"):
        encode_sft(row(rid="r9"), tokenizer, OBJ, LABELS, max_len=10)
    with pytest.raises(EncodingError, match=r"record 'r8': empty completion"):
        encode_sft(row(rid="r8", completion=""), tokenizer, OBJ, LABELS)


def test_text_every_token_labelled_and_ends_with_eos(tokenizer):
    enc = encode_text({"id": "d1", "text": "Wire transfers settle in one day."}, tokenizer)
    assert enc.labels == enc.input_ids and enc.input_ids[-1] == tokenizer.eos_token_id


def seg(n, start=10):
    ids = list(range(start, start + n))
    return Encoded(ids, list(ids))


def test_pack_rows_keeps_every_token_within_max_len():
    examples = [seg(n) for n in (5, 9, 3, 7, 12, 1, 30)]
    rows = pack_rows(examples, max_len=12)
    assert all(sum(len(s) for s in r) <= 12 for r in rows)
    assert sum(len(s) for r in rows for s in r) == sum(len(e) for e in examples)  # 30 is cut, not dropped
    assert len(rows) < len(examples)


def test_packed_collate_resets_positions_and_masks_boundaries():
    batch = collate([[seg(3), seg(2, 50)], [seg(4)]], pad_id=0, packed=True)
    assert batch.attention_mask is None
    assert batch.position_ids[0].tolist() == [0, 1, 2, 0, 1]
    assert batch.position_ids[1].tolist() == [0, 1, 2, 3, 0]  # the pad tail is its own segment
    assert batch.labels[0].tolist() == [IGNORE, 11, 12, IGNORE, 51]
    assert batch.labels[1, -1] == IGNORE and batch.n_tokens == 9


def test_unpacked_collate_pads_right_and_keeps_only_needed_logits():
    a = Encoded([1, 2, 3, 4, 5, 6], [IGNORE, IGNORE, IGNORE, IGNORE, 5, 6])
    b = Encoded([1, 2], [IGNORE, 2])
    batch = collate([[a], [b]], pad_id=0, packed=False)
    assert batch.attention_mask.tolist() == [[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0]]
    # Position 0 predicts b's token 2; positions 3 and 4 predict a's 5 and 6.
    assert batch.keep.tolist() == [0, 3, 4]


def test_batch_plan_is_deterministic_and_covers_each_row_once():
    lengths = [5, 50, 7, 33, 12, 90, 8, 8, 60, 3]
    plan = plan_batches(lengths, batch_size=3, seed=1, epoch=0, group_by_length=True)
    assert plan == plan_batches(lengths, batch_size=3, seed=1, epoch=0, group_by_length=True)
    assert plan != plan_batches(lengths, batch_size=3, seed=1, epoch=1, group_by_length=True)
    assert sorted(i for b in plan for i in b) == list(range(len(lengths)))
    rows = [[seg(n)] for n in lengths]
    grouped = packing_efficiency(rows, plan)
    assert grouped > packing_efficiency(rows, plan_batches(lengths, 3, 1, 0, group_by_length=False)) - 1e-9


def test_packing_does_not_leak_attention_across_examples(tiny_model_dir):
    """Logits of an example are the same alone and packed after another one."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    a, b = seg(6, 100), seg(5, 300)
    with torch.no_grad():
        alone = model(input_ids=torch.tensor([b.input_ids])).logits[0]
        batch = collate([[a, b]], pad_id=0, packed=True)
        packed = model(input_ids=batch.input_ids, position_ids=batch.position_ids, use_cache=False).logits[0, 6:]
    torch.testing.assert_close(packed, alone, atol=1e-4, rtol=1e-4)


def test_trimmed_logits_give_the_same_loss(tiny_model_dir, tokenizer):
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    from tailorlm.train.loop import forward_loss

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    encs = [encode_sft(row(t, c, str(i)), tokenizer, OBJ, LABELS)
            for i, (t, c) in enumerate([("lost card", "card_lost"), ("what is my balance today?", "check_balance")])]
    batch = collate([[e] for e in encs], tokenizer.pad_token_id, packed=False)
    assert batch.keep is not None and len(batch.keep) < batch.input_ids.shape[1] // 2
    with torch.no_grad():
        trimmed = forward_loss(model, batch, 0, "cpu")
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        full = F.cross_entropy(logits[:, :-1].flatten(0, 1), batch.labels[:, 1:].flatten(), ignore_index=IGNORE)
    torch.testing.assert_close(trimmed, full, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("method", ["lora", "full"])
def test_shared_prefix_gives_the_same_loss_and_gradients(method, tiny_model_dir, tokenizer):
    """Running the common system prompt once per batch is exact (loss and every gradient)."""
    from transformers import AutoModelForCausalLM

    from tailorlm.spec import TrainSpec
    from tailorlm.train.loop import forward_loss, shared_prefix_len
    from tailorlm.train.methods import apply_method

    obj = ObjectiveSpec(instruction="Classify the customer message. Answer with the label only. " * 3)
    encs = [encode_sft(row(t, c, str(i)), tokenizer, obj, LABELS) for i, (t, c) in
            enumerate([("I lost my card", "card_lost"), ("what's my balance right now please", "check_balance"),
                       ("gone", "card_lost")])]
    batch = collate([[e] for e in encs], tokenizer.pad_token_id, packed=False)
    assert shared_prefix_len(batch) > 32
    torch.manual_seed(0)
    model = apply_method(AutoModelForCausalLM.from_pretrained(tiny_model_dir), TrainSpec(method=method, lora={"dropout": 0.0}))
    out = []
    for share in (False, True):
        model.zero_grad()
        loss = forward_loss(model, batch, 0, "cpu", share_prefix=share)
        loss.backward()
        out.append((loss.detach(), [p.grad.clone() for p in model.parameters() if p.requires_grad and p.grad is not None]))
    torch.testing.assert_close(out[0][0], out[1][0], atol=1e-6, rtol=1e-6)
    assert len(out[0][1]) == len(out[1][1]) > 0
    for a, b in zip(out[0][1], out[1][1]):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
