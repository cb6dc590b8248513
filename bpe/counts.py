"""Pre-token count tables on disk: Parquet with columns `piece` (string) and `count` (int64).

`webtext bpe train --save-counts` and the Beam counting pipeline write them; `webtext bpe train --counts`
reads one or many (a sharded output is summed) and runs only the merge loop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from bpe.corpus import CorpusError, expand_inputs
from bpe.encoding import replace_surrogates
from bpe.files import replacing

COUNTS_SCHEMA_FIELDS = ("piece", "count")


def counts_schema():
    import pyarrow as pa

    return pa.schema([("piece", pa.string()), ("count", pa.int64())])


def write_counts(path: str | os.PathLike, counts: Mapping[str, int]) -> None:
    """Write atomically (`bpe.files.replacing`), so no partial table is ever visible."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        pieces = pa.array(list(counts), pa.string())
    except UnicodeEncodeError:  # lone surrogates (from JSON escapes): U+FFFD, as the encoder sees them
        merged: dict[str, int] = {}
        for piece, count in counts.items():
            key = replace_surrogates(piece)
            merged[key] = merged.get(key, 0) + count
        counts = merged
        pieces = pa.array(list(counts), pa.string())
    table = pa.table(
        {"piece": pieces, "count": pa.array(list(counts.values()), pa.int64())},
        schema=counts_schema(),
    )
    with replacing(path) as temporary:
        pq.write_table(table, temporary, compression="zstd")


def read_counts(inputs: Sequence[str | os.PathLike]) -> dict[str, int]:
    """Sum the tables in `inputs` (files, directories, globs)."""
    import pyarrow.parquet as pq

    totals: dict[str, int] = {}
    for path in expand_inputs(inputs):
        try:
            table = pq.read_table(path, columns=list(COUNTS_SCHEMA_FIELDS))
        except Exception as error:  # pyarrow raises several types for a bad file or missing columns
            raise CorpusError(f"{path}: not a counts file with columns piece, count ({error})") from None
        for piece, count in zip(table.column("piece").to_pylist(), table.column("count").to_pylist()):
            totals[piece] = totals.get(piece, 0) + count
    return totals
