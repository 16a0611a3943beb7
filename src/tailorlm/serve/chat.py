"""``tailorlm chat REF``: try a model in the terminal, with the same prompt recipe as the server.

Interactive: each line is a user turn, the answer streams as it is generated, ``/reset`` forgets the
conversation, ``/quit`` (or Ctrl-D) ends. With a pipe (``echo "..." | tailorlm chat REF``) the whole
input is one message and the answer is printed once.
"""

from __future__ import annotations

from typing import Any, Callable, TextIO

from .catalog import Catalog
from .decode import Decoder, SamplingParams

HELP = "type a message; /reset forgets the conversation, /quit ends"


def answer(decoder: Decoder, prompt: list[int], params: SamplingParams, write: Callable[[str], None]) -> str:
    """Decode one answer, writing each piece as it comes; returns the whole text."""
    text = ""
    for deltas in decoder.run(prompt, params):
        for d in deltas:
            text += d.text
            if d.text:
                write(d.text)
    return text


def run_chat(spec: Any, ws: Any, ref: str, stdin: TextIO, stdout: TextIO, *, interactive: bool,
             max_tokens: int | None = None, temperature: float = 0.0) -> int:
    """Chat with ``ref`` (a registry reference or the base alias) until /quit or end of input.

    Returns:
        The number of answers given.
    """
    catalog = Catalog(spec, ws, max_loaded=1)
    servable = catalog.resolve(ref)
    loaded = catalog.load(servable)
    decoder = Decoder(loaded, spec.eval.bf16_autocast)
    budget = max_tokens or servable.recipe.default_max_tokens(loaded.tokenizer, spec.serve.default_max_tokens)
    params = SamplingParams(max_tokens=budget, temperature=temperature, copy_bias=servable.recipe.copy_bias,
                            no_repeat=servable.recipe.repeat_limit)

    def write(piece: str) -> None:
        stdout.write(piece)
        stdout.flush()

    if not interactive:
        message = stdin.read().strip()
        if not message:
            return 0
        answer(decoder, servable.recipe.prompt_ids(loaded.tokenizer, [{"role": "user", "content": message}]),
               params, write)
        write("\n")
        return 1
    history: list[dict[str, str]] = []
    count = 0
    write(f"{servable.id}: {HELP}\n")
    while True:
        write("> ")
        line = stdin.readline()
        if not line or line.strip() == "/quit":
            return count
        line = line.strip()
        if line == "/reset":
            history.clear()
            write("(conversation forgotten)\n")
            continue
        if not line:
            continue
        history.append({"role": "user", "content": line})
        text = answer(decoder, servable.recipe.prompt_ids(loaded.tokenizer, history), params, write)
        history.append({"role": "assistant", "content": text})
        write("\n")
        count += 1
