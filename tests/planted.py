"""A corpus with planted near-duplicates at known Jaccard levels, for the dedup tests (library and Beam).

Every base text is pseudo-prose from a Zipf-weighted invented vocabulary, so unrelated texts share almost
no 5-grams. Each base gets 0-3 variants: scattered word substitutions, insertions and deletions, as many
as put the variant at a target Jaccard drawn from 0.5-1.0, or a purely cosmetic copy (case, punctuation,
other numbers of the same length) that normalization must see through. Ground truth is the exact (string)
Jaccard of every pair within a family; pairs across families are unrelated texts.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from webtext.near_dedup import shingles

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ne",
    "su",
    "ta",
    "ri",
    "po",
    "ve",
    "du",
    "shi",
    "gar",
    "bel",
    "om",
    "tri",
    "an",
)


@dataclass(frozen=True)
class PlantedCorpus:
    texts: dict[str, str]
    jaccard: dict[tuple[str, str], float]  # every within-family pair (a < b): exact n-gram Jaccard

    def pairs_at_least(self, threshold: float) -> set[tuple[str, str]]:
        return {pair for pair, value in self.jaccard.items() if value >= threshold}


def planted_corpus(n_bases: int, seed: int, ngram: int = 5) -> PlantedCorpus:
    """About 2.3 documents a base; ids are "b<base>v<variant>", variant 0 being the base."""
    rng = random.Random(seed)
    vocabulary = sorted({"".join(rng.choices(_SYLLABLES, k=rng.randint(1, 4))) for _ in range(6000)})
    cumulative = list(itertools.accumulate(1.0 / (rank + 10) for rank in range(len(vocabulary))))
    texts: dict[str, str] = {}
    jaccard: dict[tuple[str, str], float] = {}
    for base in range(n_bases):
        words = rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(200, 600))
        words[39::40] = [str(rng.randint(100, 999)) for _ in words[39::40]]
        family = {f"b{base}v0": _render(words, rng)}
        for variant in range(1, rng.choice((0, 0, 1, 1, 2, 2, 3)) + 1):
            if rng.random() < 0.15:
                family[f"b{base}v{variant}"] = _render(words, rng, cosmetic=True)
            else:
                target = rng.uniform(0.5, 1.0)  # m edits in n words: J ~ (1 - 5m/n) / (1 + 5m/n)
                edits = round(len(words) * (1 - target) / (5 * (1 + target)))
                family[f"b{base}v{variant}"] = _render(_edit(words, edits, vocabulary, rng), rng)
        texts.update(family)
        sets = {doc: shingles(text, ngram) for doc, text in family.items()}
        for a, b in itertools.combinations(sorted(family), 2):
            jaccard[a, b] = len(sets[a] & sets[b]) / len(sets[a] | sets[b])
    return PlantedCorpus(texts, jaccard)


def _edit(words: list[str], edits: int, vocabulary: list[str], rng: random.Random) -> list[str]:
    edited = list(words)
    for _ in range(edits):
        position = rng.randrange(len(edited))
        operation = rng.random()
        if operation < 0.5:
            edited[position] = rng.choice(vocabulary)
        elif operation < 0.75:
            edited.insert(position, rng.choice(vocabulary))
        elif len(edited) > 1:
            del edited[position]
    return edited


def _render(words: list[str], rng: random.Random, cosmetic: bool = False) -> str:
    """Sentences with capitals and full stops; a cosmetic copy also shouts, punctuates and renumbers."""
    out = []
    for index, word in enumerate(words):
        if cosmetic and word.isdigit():
            word = str(rng.randint(100, 999))
        elif cosmetic and rng.random() < 0.05:
            word = word.upper() + rng.choice((",", ";", " -", "!"))
        elif index % 12 == 0:
            word = word.capitalize()
        out.append(word + ("." if index % 12 == 11 else ""))
    return " ".join(out)
