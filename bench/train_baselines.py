"""The competent baselines of ``bench/train_throughput.py``: what a user who knows the libraries runs.

Every builder trains LoRA (r 16, alpha 32, dropout 0.05, all-linear) on the rows it is given, with
the optimizer, sampler and precision the library's own arguments select, for ``steps`` optimizer
steps of ``batch_size`` rows, and returns the seconds of each step and the real (non-pad) tokens it
consumed (counted by a forward pre-hook on the model, so every library is counted the same way):

* :func:`trainer_sft`: ``transformers.Trainer`` + PEFT on the causal LM, ``DataCollatorForSeq2Seq``
  (pads to the longest in the batch); ``grouped`` sets ``train_sampling_strategy="group_by_length"``
  (transformers 5; ``group_by_length=True`` before), ``bf16`` sets ``bf16=True`` (bf16 autocast on CPU);
* :func:`trainer_seqcls`: the same ``Trainer`` on ``AutoModelForSequenceClassification`` (PEFT
  ``SEQ_CLS``), ``DataCollatorWithPadding``: the classifier a user would build with the libraries;
* :func:`trl_sft`: TRL's ``SFTTrainer`` on pre-tokenized rows with a ``completion_mask`` (loss on the
  completion only), ``padding_free=True`` (the batch flattened into one sequence, no pad tokens),
  gradient checkpointing off (TRL turns it on by default; it trades ~20% speed for memory we do not need).

Rows are :class:`tailorlm.train.tokenize.Encoded` (``input_ids``, ``labels`` aligned with the ids,
``meta["class"]`` for the classifier), so every path trains on the same tokens as ours.
"""

from __future__ import annotations

import os
import time
from typing import Sequence

LORA = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": "all-linear"}


def _lora(model, task_type: str):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(task_type=task_type, **LORA))


def _token_counter(model) -> list[int]:
    """Real tokens of every training forward pass, appended to the returned list (one entry per pass)."""
    counts: list[int] = []

    def hook(_module, args, kwargs):
        mask, ids = kwargs.get("attention_mask"), kwargs.get("input_ids", args[0] if args else None)
        if model.training and ids is not None:
            counts.append(int(mask.sum()) if mask is not None else int(ids.numel()))  # padding-free: all real

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return counts


def _clock():
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        """Wall time of each optimizer step (``on_step_begin`` .. ``on_step_end``)."""

        def __init__(self):
            self.stamps: list[float] = []

        def on_step_begin(self, *a, **k):
            self.stamps.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            self.stamps.append(time.perf_counter())

    return Clock()


def _args(out: str, batch_size: int, steps: int, bf16: bool, grouped: bool, config_cls=None, **extra):
    from transformers import TrainingArguments

    cls = config_cls or TrainingArguments
    kw = {"output_dir": out, "per_device_train_batch_size": batch_size, "max_steps": steps, "use_cpu": True,
          "report_to": [], "save_strategy": "no", "logging_strategy": "no", "disable_tqdm": True,
          "dataloader_num_workers": 0, "bf16": bf16, **extra}
    if grouped:
        kw["train_sampling_strategy"] = "group_by_length"
    return cls(**kw)


def _result(clock, counts: list[int], steps: int) -> tuple[list[float], list[int]]:
    times = [clock.stamps[2 * i + 1] - clock.stamps[2 * i] for i in range(steps)]
    per_step = len(counts) // steps  # forward passes per step (1 without gradient accumulation)
    tokens = [sum(counts[i * per_step:(i + 1) * per_step]) for i in range(steps)]
    return times, tokens


def trainer_sft(model, tokenizer, rows: Sequence, steps: int, batch_size: int, tmp: str, *, bf16: bool = False,
                grouped: bool = False) -> tuple[list[float], list[int]]:
    """``Trainer`` + PEFT LoRA on the causal LM (defaults: fp32, random order, pad to the longest)."""
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, Trainer

    model = _lora(model, "CAUSAL_LM")
    counts = _token_counter(model)
    data = Dataset.from_list([{"input_ids": e.input_ids, "attention_mask": [1] * len(e), "labels": e.labels}
                              for e in rows])
    clock = _clock()
    Trainer(model=model, args=_args(os.path.join(tmp, "trainer-sft"), batch_size, steps, bf16, grouped),
            train_dataset=data, data_collator=DataCollatorForSeq2Seq(tokenizer, padding="longest"),
            callbacks=[clock]).train()
    return _result(clock, counts, steps)


def trainer_seqcls(model, tokenizer, rows: Sequence, steps: int, batch_size: int, tmp: str, *, bf16: bool = False,
                   grouped: bool = True) -> tuple[list[float], list[int]]:
    """``Trainer`` + PEFT LoRA (``SEQ_CLS``) on a sequence classifier; ``model`` is one already."""
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer

    model = _lora(model, "SEQ_CLS")
    counts = _token_counter(model)
    data = Dataset.from_list([{"input_ids": e.input_ids, "labels": e.meta["class"]} for e in rows])
    clock = _clock()
    Trainer(model=model, args=_args(os.path.join(tmp, "trainer-seqcls"), batch_size, steps, bf16, grouped),
            train_dataset=data, data_collator=DataCollatorWithPadding(tokenizer), callbacks=[clock]).train()
    return _result(clock, counts, steps)


def trl_sft(model, tokenizer, rows: Sequence, steps: int, batch_size: int, tmp: str, *, bf16: bool = False,
            padding_free: bool = True, grouped: bool = False) -> tuple[list[float], list[int]]:
    """TRL ``SFTTrainer``: pre-tokenized rows, loss on the completion only, padding-free batches."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    data = Dataset.from_list([{"input_ids": e.input_ids, "completion_mask": [int(t != -100) for t in e.labels]}
                              for e in rows])
    cfg = _args(os.path.join(tmp, "trl-sft"), batch_size, steps, bf16, grouped, config_cls=SFTConfig,
                padding_free=padding_free, completion_only_loss=True, max_length=None,
                gradient_checkpointing=False)  # TRL defaults it on (~20% slower); memory is no constraint here
    clock = _clock()
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tokenizer, callbacks=[clock],
                         peft_config=LoraConfig(task_type="CAUSAL_LM", **LORA))
    counts = _token_counter(trainer.model)
    trainer.train()
    return _result(clock, counts, steps)
