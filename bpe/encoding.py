"""Byte-level BPE encoding with GPT-2's semantics and tiktoken's API.

Speed comes from doing as little Python work per pre-token as possible: the regex splits the text,
and a dict whose `__missing__` runs BPE maps each piece to its ids, so that a warm encode is
`chain(map(cache.__getitem__, findall(text)))`, entirely in C. Only unseen pieces reach Python code.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import heapq
import json
import os
from collections.abc import Collection, Iterable, Sequence
from itertools import chain, repeat
from typing import Literal

import regex

from bpe.parallel import fork_available, map_in_forked_workers
from bpe.pretokenize import GPT2_PATTERN, Pretokenizer

ENDOFTEXT = "<|endoftext|>"

_NO_MERGE = 1 << 62  # larger than any packed (rank, id) value
_ID_BITS = 32
_ID_MASK = (1 << _ID_BITS) - 1
_LONG_PIECE = 256  # bytes; longer pieces merge with a heap, O(n log n), where min() scans would add up
_CACHED_PIECE_CHARS = 128  # longer pieces are rare and not worth keeping
_BATCH_IN_PROCESS_CHARS = 1 << 20  # smaller batches are not worth forking for


class _PieceCache(dict):
    """piece -> tuple of ids; a miss runs BPE. Bounded by clearing, checked once per encode call."""

    __slots__ = ("_bpe",)

    def __init__(self, bpe):
        super().__init__()
        self._bpe = bpe

    def __missing__(self, piece: str) -> tuple[int, ...]:
        ids = self._bpe(piece.encode("utf-8"))
        if len(piece) <= _CACHED_PIECE_CHARS:
            self[piece] = ids
        return ids


class Encoding:
    """A byte-level BPE vocabulary: ordinary tokens, merges in rank order, and special tokens.

    Ids follow the vocabulary given (for GPT-2: bytes 0..255, merge i -> 256 + i, <|endoftext|> 50256).
    A piece merges as in GPT-2's `encoder.py`: repeatedly the adjacent pair with the lowest merge rank,
    leftmost first.
    """

    def __init__(
        self,
        name: str,
        *,
        pat_str: str,
        vocab: dict[bytes, int],
        merges: Sequence[tuple[bytes, bytes]],
        special_tokens: dict[str, int],
        cache_size: int = 500_000,
    ):
        self.name = name
        self.pat_str = pat_str
        self._vocab = dict(vocab)
        self._merges = list(merges)
        self._special_tokens = dict(special_tokens)
        self.cache_size = cache_size

        missing = [bytes([b]) for b in range(256) if bytes([b]) not in vocab]
        if missing:
            raise ValueError(f"vocabulary lacks byte tokens {missing[:8]}")
        self._byte_ids = [vocab[bytes([b])] for b in range(256)]
        pair_values: dict[tuple[int, int], int] = {}
        for rank, (left, right) in enumerate(merges):
            try:
                merged_id = vocab[left + right]
                pair_values[vocab[left], vocab[right]] = (rank << _ID_BITS) | merged_id
            except KeyError as error:
                raise ValueError(
                    f"merge {rank} ({left!r}, {right!r}) uses or makes a token missing from vocab"
                ) from error
        self._pair_values = pair_values

        self._decoder: dict[int, bytes] = {token_id: token for token, token_id in vocab.items()}
        for token, token_id in special_tokens.items():
            if token.encode("utf-8") in vocab:
                raise ValueError(f"special token {token!r} is also an ordinary token")
            if token_id in self._decoder:
                raise ValueError(f"special token {token!r} reuses id {token_id}")
            self._decoder[token_id] = token.encode("utf-8")
        if len(self._decoder) != len(vocab) + len(special_tokens):
            raise ValueError("two ordinary tokens share an id")
        self.n_vocab = max(self._decoder) + 1

        self._pretokenizer = Pretokenizer(pat_str)
        self._cache = _PieceCache(self._bpe)

    # ------------------------------------------------------------------ properties

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._special_tokens)

    @property
    def special_tokens_set(self) -> set[str]:
        return set(self._special_tokens)

    @property
    def eot_token(self) -> int:
        """Id of `<|endoftext|>` (50256 in GPT-2), the document separator."""
        try:
            return self._special_tokens[ENDOFTEXT]
        except KeyError:
            raise AttributeError(f"{self.name} has no {ENDOFTEXT} token") from None

    @property
    def max_token_value(self) -> int:
        return self.n_vocab - 1

    @property
    def vocab(self) -> dict[bytes, int]:
        """Ordinary tokens (bytes -> id); special tokens are in `special_tokens`."""
        return dict(self._vocab)

    @property
    def merges(self) -> list[tuple[bytes, bytes]]:
        return list(self._merges)

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 of all that the ids depend on (pattern, ids, merges, special tokens), in hex.

        The same vocabulary gives the same fingerprint whichever files it was read from, so token shards
        and checkpoints record it to tell, later, whether a vocabulary is the one they were made with.
        """
        digest = hashlib.sha256(json.dumps([self.pat_str, sorted(self._special_tokens.items())]).encode())
        for token, token_id in sorted(self._vocab.items(), key=lambda item: item[1]):
            digest.update(b"%d %d " % (token_id, len(token)) + token)
        for left, right in self._merges:
            digest.update(b"%d %d " % (len(left), len(right)) + left + right)
        return digest.hexdigest()

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r} n_vocab={self.n_vocab}>"

    def __reduce__(self):
        return _rebuild, (
            self.name,
            self.pat_str,
            self._vocab,
            self._merges,
            self._special_tokens,
            self.cache_size,
        )

    # ------------------------------------------------------------------ encoding

    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text, treating special-token text as ordinary text."""
        self._bound_cache()
        # New cache entries are acyclic tuples: collector passes over a large heap would only slow the
        # first pass over new text, so the collector waits until the call returns.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._encode_pieces(text)
        except UnicodeEncodeError:
            return self._encode_pieces(replace_surrogates(text))
        finally:
            if collecting:
                gc.enable()

    def _encode_pieces(self, text: str) -> list[int]:
        """Pre-tokenize and look every piece up; a miss runs BPE (the cache's `__missing__`), in C."""
        return list(chain.from_iterable(map(self._cache.__getitem__, self._pretokenizer.findall(text))))

    def _bound_cache(self) -> None:
        if len(self._cache) > self.cache_size:
            self._cache.clear()

    def encode(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[int]:
        """Encode text; special tokens are recognised only if allowed.

        Text that spells a special token which is neither allowed nor explicitly permitted (by leaving
        it out of `disallowed_special`) raises ValueError, as in tiktoken: such text in a crawled page
        is usually an accident, and silently encoding it either way hides the problem.
        """
        allowed, disallowed = self._special_sets(allowed_special, disallowed_special)
        if disallowed:
            found = _special_regex(disallowed).search(text)
            if found:
                raise ValueError(
                    f"Encountered text corresponding to disallowed special token {found.group()!r}.\n"
                    f"If you want this text to be encoded as a special token, pass it to `allowed_special`, e.g. "
                    f"`allowed_special={{{found.group()!r}, ...}}`.\n"
                    f"If you want this text to be encoded as normal text, disable the check for this token by "
                    f"passing `disallowed_special=(enc.special_tokens_set - {{{found.group()!r}}})`.\n"
                    f"To disable this check for all special tokens, pass `disallowed_special=()`.\n"
                )
        if not allowed:
            return self.encode_ordinary(text)
        ids: list[int] = []
        position = 0
        for match in _special_regex(allowed).finditer(text):
            ids += self.encode_ordinary(text[position : match.start()])
            ids.append(self._special_tokens[match.group()])
            position = match.end()
        ids += self.encode_ordinary(text[position:])
        return ids

    def encode_single_token(self, token: str | bytes) -> int:
        special = token.decode("utf-8", "replace") if isinstance(token, bytes) else token
        if special in self._special_tokens:
            return self._special_tokens[special]
        key = token.encode("utf-8") if isinstance(token, str) else token
        try:
            return self._vocab[key]
        except KeyError:
            raise KeyError(f"{token!r} is not a single token of {self.name}") from None

    def encode_batch(
        self,
        texts: Sequence[str],
        *,
        num_workers: int | None = None,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> list[list[int]]:
        """Encode many texts on `num_workers` processes (default: one per core), this one included.

        Workers are forked, so they share the vocabulary and the warm cache without copying; where fork
        is unavailable, or the batch is small, the texts are encoded in this process.
        """
        self._special_sets(
            allowed_special, disallowed_special
        )  # argument errors surface here, not in a worker
        encode = functools.partial(
            self.encode, allowed_special=allowed_special, disallowed_special=disallowed_special
        )
        return self._batch(texts, num_workers, encode)

    def encode_ordinary_batch(
        self, texts: Sequence[str], *, num_workers: int | None = None
    ) -> list[list[int]]:
        return self._batch(texts, num_workers, self.encode_ordinary)

    def _batch(self, texts: Sequence[str], num_workers: int | None, encode) -> list[list[int]]:
        texts = list(texts)
        workers = min(num_workers or os.cpu_count() or 1, len(texts))
        if workers <= 1 or sum(map(len, texts)) < _BATCH_IN_PROCESS_CHARS or not fork_available():
            return list(map(encode, texts))
        self._bound_cache()  # the workers inherit the cache: no point copying an overfull one
        typecode = "H" if self.n_vocab <= 1 << 16 else "I"
        return map_in_forked_workers(encode, texts, workers, typecode=typecode, cache=self._cache)

    def _special_sets(self, allowed_special, disallowed_special) -> tuple[frozenset[str], frozenset[str]]:
        specials = frozenset(self._special_tokens)
        allowed = specials if allowed_special == "all" else frozenset(allowed_special)
        unknown = allowed - specials
        if unknown:
            raise ValueError(
                f"allowed_special names tokens that {self.name} does not have: {sorted(unknown)}"
            )
        disallowed = specials - allowed if disallowed_special == "all" else frozenset(disallowed_special)
        return allowed, disallowed

    # ------------------------------------------------------------------ BPE

    def _bpe(self, piece: bytes) -> tuple[int, ...]:
        """Merge the bytes of one pre-token: lowest-rank pair first, leftmost among equals.

        `values[k]` is the packed (rank, id) of the pair at k; a merge refreshes only its two
        neighbours, and min/index scan in C, so Python does constant work per merge.
        """
        ids = list(map(self._byte_ids.__getitem__, piece))
        if len(ids) > _LONG_PIECE:
            return self._bpe_long(ids)
        get = self._pair_values.get
        values = list(map(get, zip(ids, ids[1:]), repeat(_NO_MERGE)))
        while values:
            best = min(values)
            if best == _NO_MERGE:
                break
            i = values.index(best)
            ids[i : i + 2] = (best & _ID_MASK,)
            del values[i]
            if i:
                values[i - 1] = get((ids[i - 1], ids[i]), _NO_MERGE)
            if i < len(values):
                values[i] = get((ids[i], ids[i + 1]), _NO_MERGE)
        return tuple(ids)

    def _bpe_long(self, ids: list[int]) -> tuple[int, ...]:
        """The same merges with a heap over a linked list: O(n log n) for 100,000-byte pieces.

        Heap entries are single ints, rank << 32 | position, so that ties go to the leftmost pair.
        """
        get = self._pair_values.get
        n = len(ids)
        following = list(range(1, n + 1))  # n marks the end
        preceding = list(range(-1, n - 1))
        heap = [
            (value >> _ID_BITS) << _ID_BITS | i
            for i, value in enumerate(map(get, zip(ids, ids[1:]), repeat(_NO_MERGE)))
            if value != _NO_MERGE
        ]
        heapq.heapify(heap)
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            key = pop(heap)
            i = key & _ID_MASK
            j = following[i]
            if j == n or ids[i] < 0:
                continue
            value = get((ids[i], ids[j]))
            if value is None or value >> _ID_BITS != key >> _ID_BITS:
                continue  # stale: a neighbour changed since this pair was pushed
            ids[i] = value & _ID_MASK
            ids[j] = -1
            k = following[j]
            following[i] = k
            if k != n:
                preceding[k] = i
                value = get((ids[i], ids[k]))
                if value is not None:
                    push(heap, (value >> _ID_BITS) << _ID_BITS | i)
            h = preceding[i]
            if h >= 0:
                value = get((ids[h], ids[i]))
                if value is not None:
                    push(heap, (value >> _ID_BITS) << _ID_BITS | h)
        return tuple(token for token in ids if token >= 0)

    # ------------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Iterable[int]) -> bytes:
        if hasattr(tokens, "tolist"):  # numpy arrays: plain ints are faster dict keys
            tokens = tokens.tolist()
        try:
            return b"".join(map(self._decoder.__getitem__, tokens))
        except KeyError as error:
            bad = error.args[0]
            if not hasattr(bad, "__index__"):
                raise ValueError(f"token ids must be integers, got {bad!r}") from None
            raise ValueError(
                f"token id {bad!r} is not in the vocabulary of {self.name} (ids 0..{self.max_token_value})"
            ) from None
        except TypeError as error:  # an unhashable item, such as a nested list
            raise ValueError(f"token ids must be integers ({error})") from None

    def decode(self, tokens: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to text; bytes that are not valid UTF-8 (a split character) follow `errors`."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        return self.decode_bytes((token,))

    def decode_tokens_bytes(self, tokens: Iterable[int]) -> list[bytes]:
        return [self.decode_single_token_bytes(token) for token in tokens]

    # ------------------------------------------------------------------ files

    def save(self, directory: str | os.PathLike) -> None:
        """Write `encoder.json` + `vocab.bpe` (GPT-2's format, which tiktoken reads too) and HF's `tokenizer.json`."""
        from bpe.files import write_vocab_files

        write_vocab_files(directory, self._vocab, self._merges, self._special_tokens)
        self._save_tokenizer_json(directory)

    def save_hf(self, directory: str | os.PathLike, model_max_length: int | None = None) -> None:
        """Write the files `transformers` writes for GPT-2's tokenizer (`vocab.json`, `merges.txt`,
        `tokenizer.json`, `tokenizer_config.json`), so that `AutoTokenizer.from_pretrained(directory)` and
        `GPT2TokenizerFast.from_pretrained(directory)` give this encoding's ids."""
        from bpe.files import HF_VOCAB_LAYOUT, write_hf_tokenizer_config, write_vocab_files

        write_vocab_files(directory, self._vocab, self._merges, self._special_tokens, layout=HF_VOCAB_LAYOUT)
        self._save_tokenizer_json(directory)
        write_hf_tokenizer_config(directory, self._special_tokens, model_max_length)

    def _save_tokenizer_json(self, directory: str | os.PathLike) -> None:
        from bpe.files import write_hf_tokenizer

        write_hf_tokenizer(
            directory,
            self._vocab,
            self._merges,
            self._special_tokens,
            self.pat_str,
            gpt2_pattern=self.pat_str == GPT2_PATTERN,
        )


def replace_surrogates(text: str) -> str:
    """Lone surrogates cannot be UTF-8 encoded; like tiktoken, make them U+FFFD (pairs are joined)."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _rebuild(name, pat_str, vocab, merges, special_tokens, cache_size) -> Encoding:
    return Encoding(
        name,
        pat_str=pat_str,
        vocab=vocab,
        merges=merges,
        special_tokens=special_tokens,
        cache_size=cache_size,
    )


@functools.lru_cache(maxsize=64)
def _special_regex(tokens: frozenset[str]) -> regex.Pattern:
    return regex.compile("|".join(map(regex.escape, sorted(tokens, key=len, reverse=True))))
