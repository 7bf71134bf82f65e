"""Splitting streamed text into sentences to speak.

`MAX_SENTENCE_CHARS` and `split_sentences` are re-exported by `agentscope_rpc.tts`.
"""
from __future__ import annotations

import re

MAX_SENTENCE_CHARS = 400  # documented where agentscope_rpc.tts re-exports it

_ABBREVIATIONS = frozenset(
    ("mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "e.g", "i.e", "cf", "approx", "mt", "fig"),
)
_BOUNDARY = re.compile(r"(\n)|([.!?\u2026]+)([\"'\u201d\u2019)\]]*)(?=\s)")
_WORD_BEFORE = re.compile(r"(?:^|[\s(\"'\u201c\u2018])(\w[\w.]*)$")
_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s*")
_SPEAKABLE = re.compile(r"\w")


def _ends_sentence(text: str, match: "re.Match", final: bool) -> bool:
    """Whether the punctuation `match` (followed by whitespace) ends a sentence."""
    punct = match.group(2)
    exclaims = "!" in punct or "?" in punct
    if match.group(3) or (not exclaims and (len(punct) > 1 or punct == "\u2026")):
        # a quotation ('"Stop!" she said') or an ellipsis ("Well... maybe") may go on in lower case
        following = _NON_SPACE.search(text, match.end())
        return final if following is None else not following.group().islower()
    if punct == ".":  # an abbreviation ("Dr.", "e.g.") or an initial ("J.") does not end one
        start = match.start()
        word = _WORD_BEFORE.search(text, max(0, start - 24), start)
        if word is not None:
            token = word.group(1)
            if token.lower() in _ABBREVIATIONS or (len(token) == 1 and token.isupper()):
                return False
    return True


def _cut_long(text: str, max_chars: int) -> int:
    """Where to cut `text` (longer than max_chars, no sentence end): after a comma or at a space."""
    window = text[:max_chars]
    for marks in ((",", ";", ":"), (" ", "\t")):
        at = max(window.rfind(mark) for mark in marks)
        if at > max_chars // 4:
            return at + 1
    return max_chars


def split_sentences(text: str, final: bool = False,
                    max_chars: int = MAX_SENTENCE_CHARS) -> tuple[list[str], int]:
    """The complete sentences at the start of `text`, and how many characters they use.

    A sentence ends at `.`, `!` or `?` (or `...`, closing quotes and brackets
    included) followed by whitespace, or at a line break.  A period after a
    common abbreviation (`Mr.`, `e.g.`) or a capital initial (`J.`) does not
    end one; an ellipsis or a closing quote followed by a lower-case word
    (`"Stop!" she said`) does not either.
    While the text is still streaming (`final=False`) punctuation at its very
    end waits for the next chunk (`3.` may become `3.5`); with `final=True`
    the rest counts as a sentence too.  Text that runs past `max_chars`
    without a sentence end is cut after a comma or at a space.

    Returns `(sentences, consumed)`: the sentences, stripped, leaving out
    ones with nothing to pronounce (no letter or digit); `consumed` is the
    length of the prefix of `text` they cover, with the whitespace after
    them.  `split_sentences("Hello. Wor")` is `(["Hello."], 7)`.
    """
    sentences: list = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        if match.start() < start:
            continue  # inside whitespace already consumed
        if match.group(1) is None and not _ends_sentence(text, match, final):
            continue
        end = match.start() if match.group(1) is not None else match.end()
        piece = text[start:end].strip()
        if _SPEAKABLE.search(piece):
            sentences.append(piece)
        start = _SPACE.match(text, match.end()).end()
    while len(text) - start > max_chars:
        cut = start + _cut_long(text[start:], max_chars)
        piece = text[start:cut].strip()
        if _SPEAKABLE.search(piece):
            sentences.append(piece)
        start = _SPACE.match(text, cut).end()
    if final:
        piece = text[start:].strip()
        if _SPEAKABLE.search(piece):
            sentences.append(piece)
        start = len(text)
    return sentences, start
