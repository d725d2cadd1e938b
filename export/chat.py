"""The chat format (see FORMATS.md): one place that builds prompts and training texts."""
from __future__ import annotations

BOS = "<|endoftext|>"
END = "<|end|>"
SPECIAL_TOKENS = [BOS, END]
HUMAN = "Human"
ASSISTANT = "Assistant"


def turn(speaker: str, text: str) -> str:
    return f"{speaker}: {text}{END}"


def exchange(question: str, answer: str, speaker: str = ASSISTANT) -> str:
    return turn(HUMAN, question) + turn(speaker, answer)


def build_prompt(question: str, context: list[tuple[str, str]] = (), speaker: str = ASSISTANT) -> str:
    """BOS + example exchanges + the question, ending where the speaker's answer begins."""
    return BOS + "".join(exchange(q, a, speaker) for q, a in context) + turn(HUMAN, question) + f"{speaker}:"


def question_of(prompt: str) -> str:
    """The last human turn's words in a prompt that build_prompt made (the inverse for one question)."""
    return prompt.rsplit(f"{HUMAN}: ", 1)[-1].split(END, 1)[0].strip()


def document(exchanges: list[tuple[str, str]], speaker: str) -> str:
    return BOS + "".join(exchange(q, a, speaker) for q, a in exchanges)
