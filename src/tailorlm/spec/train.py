"""The ``train:`` section: method and hyperparameters.

Defaults are chosen so ``tailorlm run`` on the support template trains a useful LoRA adapter on a
2-core CPU in a few minutes; ``learning_rate`` defaults per method (see
``tailorlm.train.methods.DEFAULT_LR``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from .common import Strict

Method = Literal["full", "lora", "dora", "qlora", "prefix", "prompt", "ia3"]
# Methods a classifier head can sit on (prefix/prompt tuning shift the position the head reads).
CLASSIFIER_METHODS: tuple[str, ...] = ("full", "lora", "dora", "qlora", "ia3")
Head = Literal["auto", "lm", "classifier"]


class LoraSpec(Strict):
    """LoRA / DoRA / QLoRA adapter shape (``target_modules`` also applies to IA3 when it is a list)."""

    r: int = Field(default=16, ge=1)
    alpha: int = Field(default=32, ge=1)
    # 0 by default: a LoRA dropout of 0.05 made a training step 1.8x slower (bf16 autocast, AMX CPU;
    # 244-272 vs 463-507 tokens/s, docs/training.md), and one epoch or less barely overfits.
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"


CPU_MINUTES = 15.0  # the time budget of a CPU run when train.max_minutes is not set


def time_budget(spec: "TrainSpec", device: str) -> float:
    """Minutes of optimizer steps allowed (0: no budget): ``max_minutes``, or the CPU default."""
    if spec.max_minutes is not None:
        return spec.max_minutes
    return CPU_MINUTES if str(device).startswith("cpu") else 0.0


RETRIEVAL_TASKS = ("generation", "chat")  # tasks whose default recipe shows the nearest training example


def retrieved_examples(spec: "TrainSpec", task: str, head: str = "lm") -> int:
    """Nearest training examples in each prompt of the fine-tuned model: ``retrieved_examples``, or 1
    for generation and chat; always 0 for a classifier head and continued pretraining."""
    if head == "classifier" or task == "continued_pretraining":
        return 0
    if spec.retrieved_examples is not None:
        return spec.retrieved_examples
    return 1 if task in RETRIEVAL_TASKS else 0


class TrainSpec(Strict):
    """How the base model is adapted.

    Attributes:
        method: ``lora`` (default), ``dora``, ``qlora`` (CUDA only), ``full``, ``prefix``,
            ``prompt`` or ``ia3``.
        head: ``lm`` trains the language-model head to write the answer; ``classifier`` puts a
            sequence-classification head (one logit per label) on the base and trains it with the
            body's PEFT method on the message alone (classification only; not with prefix/prompt
            tuning); ``auto`` picks ``classifier`` for classification and ``lm`` otherwise (see
            docs/training.md for the measurements behind it).
        learning_rate: peak learning rate; ``None`` picks the method's default (LoRA 3e-4,
            full 2e-5, IA3 3e-3, prefix 1e-2, prompt 3e-2); LoRA and DoRA take 1e-3 in a
            time-budgeted run (``max_minutes``, the CPU default) and under a classifier head.
        epochs: passes over the training split (used when ``max_steps`` is 0).
        max_steps: stop after this many optimizer steps (wins over ``epochs`` when > 0).
        max_minutes: time budget for the optimizer steps (validation and checkpoints not counted);
            0 = none; unset: :data:`CPU_MINUTES` (15) when training on CPU, none on a GPU, so a first
            run on a laptop or CI box ends in a bounded time and says what it left out. After 5 steps the run measures its speed and, when the planned steps (from
            ``epochs``/``max_steps``) would take longer, plans fewer: the learning-rate schedule is
            laid over the steps that fit, so it still warms up and decays to its end. A run that
            falls more than 15% behind (the machine slowed) stops at the budget. The report and
            ``TrainRun.metrics`` show the planned and trained steps.
        batch_size: rows per batch; ``grad_accum`` batches make one optimizer step.
        max_batch_tokens: a batch larger than this many padded tokens (rows x longest row) runs as
            several forward/backward passes of at most this size, losses weighted so the gradient is
            the same; bounds activation memory on long rows (batches of 16 rows of 260-400 tokens peaked at
            14.6 GB in one pass, 6.9 GB in passes of 2,048 tokens, which ran ~15% slower). 0 = one pass per batch. Single process only; not for packed rows.
        labels_in_prompt: list the label set in the fine-tuned model's system prompt (classification).
            Off by default: the model learns the labels from the answers, and a long label list
            repeated in every training row costs most of the compute (base and few-shot prompting
            always list them). Recorded in the version's prompt recipe.
        retrieved_examples: how many nearest training examples (by the user turns: the ``classical``
            floor's TF-IDF averaged with sentence embeddings, ``tailorlm.rag.examples``) the fine-tuned
            model sees as prior user/assistant turns before every message, in training (the nearest
            *other* rows), evaluation and serving; the rows travel with the version. Unset: 1 for
            generation and chat (a short CPU budget teaches a small model to fit its neighbour's answer
            to the message long before it learns every intent's content from the weights; see
            docs/training.md), 0 otherwise. 0 = off. Recorded in the prompt recipe.
        retrieval_pool: training rows draw their retrieved examples at random (seeded) from their
            ``retrieval_pool`` most similar other rows instead of taking the nearest; validation,
            evaluation and serving always take the nearest. A training row's nearest other row shares
            its phrasing far more often than a new message's does (on the bench support workload the
            nearest neighbour is of the same intent and situation for 96% of training rows and 71% of
            test messages), so a model trained only on nearest neighbours learns to copy them blindly.
            1 = always the nearest.
        retrieval_groups: with retrieved examples, cluster the training answers into this many groups and
            rank examples by similarity plus how likely the message's answer is in the row's group (a
            logistic regression over the user turns' embeddings; ``tailorlm.rag.examples``). Similarity alone
            is swayed by shared items, names and filler words; on the bench support workload the pick has the
            message's intent and situation for 83% of test messages instead of 71% for the floor's nearest
            row (bench/retrieval_pick.py). Unset: about sqrt(training rows),
            8-64, none under 100 rows. 0 = similarity alone. The groups travel with the version.
        copy_bias: with retrieved examples, a logit bonus that decoding (evaluation, ``serve``, ``chat``)
            gives the token continuing a span of the example's answer (or a number of the message;
            ``tailorlm.inference.decode.CopyLookup``), with a repeat limit learnt from the training answers
            that cuts looping answers (the recipe's ``repeat_limit``). The version then keeps to the
            stored answer it was shown unless it clearly prefers another token; a model trained for a few
            CPU-minutes otherwise drops and garbles the example's sentences (docs/training.md). Default 3,
            chosen on validation rows (bench/copy_bias_sweep.py: 2, 3, 4 gave ROUGE-L 0.472, 0.480,
            0.476 on 240 rows of the bench workload). 0 = plain decoding. Recorded in the prompt recipe;
            versions without retrieved examples ignore it.
        packing: pack several examples per row (position ids restart per example, so attention does
            not cross examples); a packed row holds up to ``data.max_seq_len`` tokens plus the shared
            instruction. Always on for continued pretraining (rows of ``data.max_seq_len`` tokens).
        group_by_length: batch examples of similar length together (little padding, no packing).
        eval_every / save_every / log_every: in optimizer steps.
        eval_rows: validation rows each periodic validation reads, a seeded sample fixed for the run
            (0 = the whole validation split). Enough to rank checkpoints and stop early; on long
            generation rows a validation of 240 rows costs about as much as 5 training steps.
        keep_checkpoints: how many of the latest checkpoints to keep (the best is kept as well).
        early_stopping_patience: stop after this many validations without a better validation
            loss; 0 disables.
    """

    method: Method = "lora"
    head: Head = "auto"
    lora: LoraSpec = LoraSpec()
    num_virtual_tokens: int = Field(default=20, ge=1, description="prefix/prompt tuning")
    learning_rate: float | None = Field(default=None, gt=0, description="default per method")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: float = Field(default=0.05, ge=0.0, lt=1.0)
    epochs: float = Field(default=1.0, gt=0)
    max_steps: int = Field(default=0, ge=0)
    max_minutes: float | None = Field(default=None, ge=0.0,
                                      description="time budget for the training steps; 0 = none; default: 15 on CPU")
    batch_size: int = Field(default=16, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    max_batch_tokens: int = Field(default=4096, ge=0, description="padded tokens per forward pass; 0 = no split")
    weight_decay: float = Field(default=0.0, ge=0.0)
    max_grad_norm: float = Field(default=1.0, gt=0)
    labels_in_prompt: bool = False
    retrieved_examples: int | None = Field(default=None, ge=0, le=4,
                                           description="nearest training examples before each message; "
                                                       "default: 1 for generation and chat, else 0")
    retrieval_pool: int = Field(default=8, ge=1, le=64,
                                description="training draws its retrieved examples from this many nearest rows")
    retrieval_groups: int | None = Field(default=None, ge=0, le=256,
                                         description="answer groups that rank retrieved examples; "
                                                     "default: about sqrt(training rows); 0 = off")
    copy_bias: float = Field(default=3.0, ge=0.0, le=20.0,
                             description="decoding bonus for continuing the retrieved example (logits)")
    packing: bool = False
    group_by_length: bool = True
    seed: int = 0
    eval_every: int = Field(default=50, ge=1, description="validation every N optimizer steps")
    eval_rows: int = Field(default=256, ge=0, description="validation rows read each time (a seeded sample); 0 = all")
    save_every: int = Field(default=50, ge=1, description="checkpoint every N optimizer steps")
    keep_checkpoints: int = Field(default=2, ge=1)
    early_stopping_patience: int = Field(default=0, ge=0, description="0 disables")
    log_every: int = Field(default=5, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _removed_keys(cls, raw: object) -> object:
        if isinstance(raw, dict) and "max_seq_len" in raw:
            raise ValueError(
                "train.max_seq_len was removed: data.max_seq_len is the one length budget (it counts each "
                "example without the shared instruction and label list; packed rows and text chunks use it "
                "too). Delete train.max_seq_len, and set data.max_seq_len if you need a different budget")
        return raw
