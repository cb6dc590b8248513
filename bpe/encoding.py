"""Byte-level BPE encoding with GPT-2's semantics and tiktoken's API.

Speed comes from doing as little Python work per pre-token as possible: the regex splits the text,
and a dict whose `__missing__` runs BPE maps each piece to its ids, so that a warm encode is
`chain(map(cache.__getitem__, findall(text)))`, entirely in C. Only unseen pieces reach Python code,
and their merges run in C too (`bpe/_merge.c`) where the extension was built.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import heapq
import json
import operator
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import chain, repeat
from typing import TYPE_CHECKING, Literal, NoReturn

import regex

from bpe.parallel import fork_available, map_in_forked_workers
from bpe.pretokenize import GPT2_PATTERN, Pretokenizer

try:
    from bpe._merge import Merger as _NativeMerger
except ImportError:  # built without a C compiler: the pure-Python merges below give the same ids
    _NativeMerger = None
if os.environ.get("WEBTEXT_PURE_PYTHON_BPE"):  # to compare or debug the two
    _NativeMerger = None

if TYPE_CHECKING:
    import numpy as np

ENDOFTEXT = "<|endoftext|>"

_NO_MERGE = 1 << 62  # larger than any packed (rank, id) value
_ID_BITS = 32
_ID_MASK = (1 << _ID_BITS) - 1
_SHORT_PIECE = 48  # bytes; longer pieces merge with a heap, where min() scans over all pairs would add up
_LONG_PIECE = 256  # bytes; longer pieces first merge in rounds (see _bpe_long)
_FEW_MERGES_SHIFT = 8  # a round that merges fewer than 1/256 of a long piece's tokens costs more than a heap
_CACHED_PIECE_CHARS = 256  # longer pieces are rare and not worth keeping
_MAX_ID = (1 << 32) - 1  # ids are unsigned 32-bit, as in tiktoken
_WHITE_SPACE = regex.compile(r"\p{White_Space}")


class UnknownTokenError(KeyError, ValueError):
    """An id or token text the vocabulary lacks: KeyError as in tiktoken, ValueError as this package had."""

    def __str__(self) -> str:
        return str(self.args[0])  # KeyError would quote the message


class TokenRangeError(OverflowError, ValueError):
    """An id outside 0..2**32-1: OverflowError as in tiktoken (which converts ids to u32), and ValueError."""


class TokenTypeError(TypeError, ValueError, AssertionError):
    """A token id that is not an integer: TypeError as tiktoken's decode raises, AssertionError as its
    `is_special_token` asserts, and ValueError as this package raised before."""


class MissingEndOfTextError(AttributeError, KeyError):
    """`eot_token` of a vocabulary without `<|endoftext|>`: KeyError as in tiktoken; AttributeError, so that
    `hasattr(enc, "eot_token")` tells."""

    def __str__(self) -> str:
        return str(self.args[0])


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
        # The merges of one piece, in C where the extension was built (the same ids, 5-50x faster).
        self._bpe: Callable[[bytes], tuple[int, ...]] = self._bpe_python
        if _NativeMerger is not None:
            triples = [(vocab[left], vocab[right], vocab[left + right]) for left, right in merges]
            self._bpe = _NativeMerger(self._byte_ids, triples).encode

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
        # Indexed by id; the padding makes ids past the end and negative ids down to -n_vocab hit None,
        # so that decoding needs no range check until a lookup fails.
        self._decode_table: list[bytes | None] = [None] * (2 * self.n_vocab)
        for token_id, token in self._decoder.items():
            self._decode_table[token_id] = token
        self._special_values = frozenset(special_tokens.values())

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
            raise MissingEndOfTextError(f"{self.name} has no {ENDOFTEXT} token") from None

    def is_special_token(self, token: int) -> bool:
        if not isinstance(token, int):
            raise TokenTypeError(f"token ids must be integers, got {token!r}")
        return token in self._special_values

    def token_byte_values(self) -> list[bytes]:
        """The bytes of every ordinary token, sorted (as tiktoken returns them)."""
        return list(self._sorted_token_bytes)

    @functools.cached_property
    def _sorted_token_bytes(self) -> list[bytes]:
        return sorted(self._vocab)

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
        try:
            return self._encode_pieces(text)
        except UnicodeEncodeError:  # raised by the pre-tokenizer before any work, so this is one pass
            return self._encode_pieces(replace_surrogates(text))

    def _encode_pieces(self, text: str) -> list[int]:
        """Pre-tokenize and look every piece up; a miss runs BPE (the cache's `__missing__`), in C."""
        pieces = self._pretokenizer.findall(text, errors="strict")
        return list(chain.from_iterable(map(self._cache.__getitem__, pieces)))

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
        is usually an accident, and silently encoding it either way hides the problem. Allowed names this
        vocabulary lacks are ignored, as tiktoken does, so one allowed set can serve several encodings.
        """
        allowed = self._check_special(text, allowed_special, disallowed_special)
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

    def encode_to_numpy(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> np.ndarray:
        """`encode` as a uint32 numpy array, as tiktoken returns it."""
        import numpy as np

        ids = self.encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)
        return np.array(ids, dtype=np.uint32)

    def encode_with_unstable(
        self,
        text: str,
        *,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
    ) -> tuple[list[int], list[list[int]]]:
        """Stable ids of a text that may go on, and every id sequence its last piece could continue as.

        tiktoken's algorithm, for completion: the ids of the last pre-token (and of whitespace tokens
        before it, since a whitespace split can vanish as text is added) are held back; the completions
        are the tokens that start with those bytes, and the re-encodings of those bytes followed by each
        token that could straddle their end. Completions come sorted (tiktoken's order is arbitrary).
        """
        allowed = self._check_special(text, allowed_special, disallowed_special)
        text = replace_surrogates(text)
        tokens: list[int] = []
        position = 0
        for match in _special_regex(allowed).finditer(text) if allowed else ():
            tokens += self.encode_ordinary(text[position : match.start()])
            tokens.append(self._special_tokens[match.group()])
            position = match.end()
        pieces = self._pretokenizer.findall(text[position:])
        for piece in pieces:
            tokens += self._cache[piece]
        held = len(self._cache[pieces[-1]]) if pieces else 0
        if not held:
            return tokens, []
        while (
            held < len(tokens) and self._is_all_space(tokens[-held]) and self._is_all_space(tokens[-held - 1])
        ):
            held += 1
        unstable = self.decode_bytes(tokens[-held:])
        del tokens[-held:]
        return tokens, sorted(map(list, self._completions(unstable)))

    def _is_all_space(self, token: int) -> bool:
        """An ordinary token of spaces, newlines and tabs only: where tiktoken's splits are unstable."""
        token_bytes = self._decode_table[token] if token not in self._special_values else None
        return token_bytes is not None and not token_bytes.strip(b" \n\t")

    def _completions(self, unstable: bytes) -> set[tuple[int, ...]]:
        """The id sequences that text starting with `unstable` can begin with (tiktoken's rules)."""
        completions = {(self._vocab[token],) for token in self._tokens_starting_with(unstable)}
        for i in range(1, len(unstable)):
            prefix = unstable[:i]
            for token in self._tokens_starting_with(unstable[i:]):
                possibility = prefix + token
                try:
                    encoded: Sequence[int] = self.encode_ordinary(possibility.decode("utf-8"))
                except UnicodeDecodeError:
                    encoded = self._bpe(possibility)
                length, sequence = 0, []
                for token_id in encoded:
                    sequence.append(token_id)
                    length += len(self._decoder[token_id])
                    if length >= len(unstable):
                        break
                completions.add(tuple(sequence))
        # A whitespace split that text to come could open: "\n\n" + "0" splits as "\n" + "\n" + "0".
        last = _last_character(unstable)
        if last is not None and len(last[1]) < len(unstable) and _WHITE_SPACE.match(last[0]):
            size = len(last[1])
            completions.add(self._bpe(unstable[:-size]) + self._bpe(unstable[-size:]))
        return completions

    def _tokens_starting_with(self, prefix: bytes) -> list[bytes]:
        tokens = self._sorted_token_bytes
        start = end = bisect.bisect_left(tokens, prefix)
        while end < len(tokens) and tokens[end].startswith(prefix):
            end += 1
        return tokens[start:end]

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        """The id of text that is exactly one token, special tokens included; KeyError otherwise."""
        key = text_or_bytes.encode("utf-8") if isinstance(text_or_bytes, str) else text_or_bytes
        token_id = self._vocab.get(key)
        if token_id is None:
            try:
                token_id = self._special_tokens[key.decode("utf-8")]
            except (KeyError, UnicodeDecodeError):
                raise UnknownTokenError(f"{text_or_bytes!r} is not a single token of {self.name}") from None
        return token_id

    def encode_batch(
        self,
        text: Sequence[str],
        *,
        num_threads: int | None = None,
        allowed_special: Literal["all"] | Collection[str] = frozenset(),
        disallowed_special: Literal["all"] | Collection[str] = "all",
        num_workers: int | None = None,
    ) -> list[list[int]]:
        """Encode many texts on `num_threads` processes (default: one per core), this one included.

        Workers are forked processes, not threads: BPE in Python holds the GIL. They share the
        vocabulary and the warm cache without copying; where fork is unavailable, or the batch is small,
        the texts are encoded in this process. `num_workers` is this package's older name for
        `num_threads` (tiktoken's), kept for the callers written against it.
        """
        workers = _worker_count(num_threads, num_workers)
        self._special_sets(
            allowed_special, disallowed_special
        )  # argument errors surface here, not in a worker
        encode = functools.partial(
            self.encode, allowed_special=allowed_special, disallowed_special=disallowed_special
        )
        return self._batch(text, workers, encode)

    def encode_ordinary_batch(
        self, text: Sequence[str], *, num_threads: int | None = None, num_workers: int | None = None
    ) -> list[list[int]]:
        """`encode_ordinary` of each text, on worker processes as in `encode_batch`."""
        return self._batch(text, _worker_count(num_threads, num_workers), self.encode_ordinary)

    def _batch(self, texts: Sequence[str], workers: int | None, encode) -> list[list[int]]:
        texts = list(texts)
        workers = min(workers or os.cpu_count() or 1, len(texts))
        if workers <= 1 or sum(map(len, texts)) < _BATCH_IN_PROCESS_CHARS or not fork_available():
            return list(map(encode, texts))
        self._bound_cache()  # the workers inherit the cache: no point copying an overfull one
        typecode = "H" if self.n_vocab <= 1 << 16 else "I"
        return map_in_forked_workers(encode, texts, workers, typecode=typecode, cache=self._cache)

    def _check_special(self, text: str, allowed_special, disallowed_special) -> frozenset[str]:
        """The special tokens to recognise; ValueError if the text spells a disallowed one."""
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
        return allowed

    def _special_sets(self, allowed_special, disallowed_special) -> tuple[frozenset[str], frozenset[str]]:
        """(allowed, disallowed): allowed names this vocabulary lacks are dropped, disallowed ones kept
        (their text is refused all the same), as in tiktoken."""
        specials = frozenset(self._special_tokens)
        allowed = specials if allowed_special == "all" else specials & frozenset(allowed_special)
        disallowed = specials - allowed if disallowed_special == "all" else frozenset(disallowed_special)
        return allowed, disallowed

    # ------------------------------------------------------------------ BPE

    def _bpe_python(self, piece: bytes) -> tuple[int, ...]:
        """Merge the bytes of one pre-token: lowest-rank pair first, leftmost among equals.

        Short pieces (nearly all): `values[k]` is the packed (rank, id) of the pair at k; a merge
        refreshes only its two neighbours, and min/index scan in C, so Python does constant work per
        merge. Past 48 bytes those scans cost more than a heap's O(log n).
        """
        ids = list(map(self._byte_ids.__getitem__, piece))
        if len(ids) > _SHORT_PIECE:
            return self._bpe_long(ids) if len(ids) > _LONG_PIECE else self._bpe_heap(ids)
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
        """Long pieces: whole rounds of merges in C while they pay, then one merge at a time on a heap.

        A round merges every occurrence of the lowest-rank pair at once, left to right, as GPT-2's
        `encoder.py` does: the same result as one at a time, since the pairs a merge creates rank after
        it. On a string of one character per token, a round is a few passes in C (count, replace,
        split), so a piece of one repeated letter takes a few rounds, not 100,000 Python steps. When a
        round would merge too few pairs for its passes over the whole piece (text with many distinct
        pairs), the heap finishes from where the rounds stopped.
        """
        pair_values, value_pairs = self._char_pairs
        text = "".join(map(chr, ids))
        heap = list(filter(None, map(pair_values.get, set(map(operator.add, text, text[1:])))))
        heapq.heapify(heap)
        while heap:
            value = heapq.heappop(heap)
            parts = text.split(value_pairs[value])
            if len(parts) <= len(text) >> _FEW_MERGES_SHIFT:
                if len(parts) > 1:
                    break
                continue  # stale: merged away by an earlier round
            merged = chr(value & _ID_MASK)
            text = merged.join(parts)
            # The new token's neighbours, from the distinct runs between its occurrences (a superset:
            # the runs at either end count on both sides; a pair that is not there is popped as stale).
            runs = set(parts)
            created = {run[-1] + merged for run in runs if run}
            created.update(merged + run[0] for run in runs if run)
            if "" in runs:
                created.add(merged + merged)
            for new_value in filter(None, map(pair_values.get, created)):
                heapq.heappush(heap, new_value)
        else:
            return tuple(map(ord, text))  # no pair left to merge
        return self._bpe_heap(list(map(ord, text)))

    @functools.cached_property
    def _char_pairs(self) -> tuple[dict[str, int], dict[int, str]]:
        """The merges keyed by their pair as two characters (chr of the ids), and the reverse."""
        pair_values = {chr(left) + chr(right): value for (left, right), value in self._pair_values.items()}
        return pair_values, {value: pair for pair, value in pair_values.items()}

    def _bpe_heap(self, ids: list[int]) -> tuple[int, ...]:
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
        return tuple(filter((0).__le__, ids))  # merged-away positions hold -1

    # ------------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Iterable[int]) -> bytes:
        if hasattr(tokens, "tolist"):  # numpy arrays: plain ints are faster list indices
            tokens = tokens.tolist()
        elif not isinstance(tokens, list | tuple):
            tokens = list(tokens)  # an iterator would be spent by the time an error is explained
        try:
            return b"".join(map(self._decode_table.__getitem__, tokens))
        except (IndexError, TypeError):  # past the table, not an integer, or a hole (None)
            self._raise_decode_error(tokens)

    def _raise_decode_error(self, tokens: Sequence) -> NoReturn:
        """The first fault in the order tiktoken finds them: every id is converted to u32, then looked up."""
        ids = []
        for token in tokens:
            try:
                token_id = operator.index(token)
            except TypeError:
                raise TokenTypeError(f"token ids must be integers, got {token!r}") from None
            if not 0 <= token_id <= _MAX_ID:
                raise TokenRangeError(self._unknown(token_id) + "; ids are unsigned 32-bit integers")
            ids.append(token_id)
        bad = next(i for i in ids if i >= self.n_vocab or self._decode_table[i] is None)
        raise UnknownTokenError(self._unknown(bad))

    def _unknown(self, token_id: int) -> str:
        return f"token id {token_id} is not in the vocabulary of {self.name} (ids 0..{self.max_token_value})"

    def decode(self, tokens: Iterable[int], errors: str = "replace") -> str:
        """Decode ids to text; bytes that are not valid UTF-8 (a split character) follow `errors`."""
        return self.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        return self.decode_bytes((token,))

    def decode_tokens_bytes(self, tokens: Iterable[int]) -> list[bytes]:
        if hasattr(tokens, "tolist"):
            tokens = tokens.tolist()
        return [self.decode_single_token_bytes(token) for token in tokens]

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        """The text and, for each token, the index of the first character holding any of its bytes.

        As in tiktoken, bytes that are not valid UTF-8 raise UnicodeDecodeError.
        """
        token_bytes = self.decode_tokens_bytes(tokens)
        text_length, offsets = 0, []
        for token in token_bytes:
            offsets.append(max(0, text_length - (0x80 <= token[0] < 0xC0)))  # starts mid-character
            text_length += sum(not 0x80 <= byte < 0xC0 for byte in token)  # one lead byte per character
        return b"".join(token_bytes).decode("utf-8", errors="strict"), offsets

    def decode_batch(
        self, batch: Iterable[Iterable[int]], *, errors: str = "replace", num_threads: int | None = None
    ) -> list[str]:
        """`decode` of each sequence, here: a join in C that worker processes would only slow down.

        `num_threads` is checked as tiktoken checks it, for code that passes it.
        """
        _worker_count(num_threads, None)
        return [self.decode(tokens, errors=errors) for tokens in batch]

    def decode_bytes_batch(
        self, batch: Iterable[Iterable[int]], *, num_threads: int | None = None
    ) -> list[bytes]:
        """`decode_bytes` of each sequence, in this process as `decode_batch` is."""
        _worker_count(num_threads, None)
        return list(map(self.decode_bytes, batch))

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


def _worker_count(num_threads: int | None, num_workers: int | None) -> int | None:
    """`num_threads` (or its older name), refused as tiktoken's thread pool refuses it when below 1."""
    if num_threads is not None and num_workers is not None:
        raise TypeError("pass num_threads or num_workers (its older name), not both")
    count = num_workers if num_threads is None else num_threads
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"num_threads must be an integer, got {count!r}")
        if count < 1:
            raise ValueError(f"num_threads must be at least 1, got {count}")
    return count


def _last_character(data: bytes) -> tuple[str, bytes] | None:
    """The character the bytes end with and its UTF-8 bytes; None if they end inside or after bad bytes."""
    for size in range(1, min(4, len(data)) + 1):
        try:
            character = data[-size:].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return character, data[-size:]
    return None


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
