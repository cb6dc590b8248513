"""ConnectedComponents run for real on the FnApiRunner (in one process and in two), against union-find."""

from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import BeamAssertException, assert_that, equal_to

from pipelines.components import ConnectedComponents, components_union_find
from pipelines.metrics import read_counters

FN_API = ["--runner=FnApiRunner"]
TWO_PROCESSES = FN_API + ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def path(nodes: list) -> list[tuple]:
    return list(zip(nodes, nodes[1:]))


def mixed_graph(seed: int) -> list[tuple[int, int]]:
    """The shapes that stress label propagation or the bookkeeping, on disjoint random node ids, in
    random order and orientation."""
    rng = random.Random(seed)
    ids = iter(rng.sample(range(10**6), 3000))

    def take(count: int) -> list[int]:
        return [next(ids) for _ in range(count)]

    edges = path(take(1000))  # a long chain in random key order
    edges += path(sorted(take(200)))  # a chain in key order: each round only halves it
    for size in (2, 7, 40):  # stars whose centre is not their smallest node
        centre, *leaves = take(size)
        edges += [(centre, leaf) for leaf in leaves]
    for size in (2, 5, 12):
        clique = take(size)
        edges += [(a, b) for i, a in enumerate(clique) for b in clique[i + 1 :]]
    sparse = take(500)  # many small trees and cycles
    edges += [tuple(rng.sample(sparse, 2)) for _ in range(350)]
    lonely, *_ = take(1)
    edges += [(lonely, lonely)] + [(node, node) for node in rng.sample(sparse, 20)]
    edges += rng.sample(edges, 300)  # duplicates
    edges = [(b, a) if rng.random() < 0.5 else (a, b) for a, b in edges]
    rng.shuffle(edges)
    return edges


def run_components(edges: list, check, max_rounds: int = 20, args: list[str] = FN_API) -> dict[str, int]:
    """Runs ConnectedComponents with `check` asserted on its output; returns the pipeline's counters."""
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    labels = pipeline | beam.Create(edges) | ConnectedComponents(max_rounds)
    assert_that(labels, check)
    result = pipeline.run()
    result.wait_until_finish()
    return read_counters(result)


def test_union_find_reference():
    edges = [(5, 3), (3, 9), (9, 9), (8, 7), (4, 4), (7, 6), (6, 8)]
    assert components_union_find(edges) == {5: 3, 3: 3, 9: 3, 8: 6, 7: 6, 6: 6, 4: 4}


def test_mixed_graph_matches_union_find():
    edges = mixed_graph(seed=0)
    expected = components_union_find(edges)
    counters = run_components(edges, equal_to(sorted(expected.items())))
    assert counters["components_unconverged_edges"] == 0
    assert counters["component_nodes"] == len(expected)
    assert counters["components"] == len(set(expected.values()))


def test_tuple_keys_in_two_processes():
    """Keys as the near-duplicate step builds them: the best score, then the oldest, represents."""
    rng = random.Random(1)
    keys = {}

    def key(node: int) -> tuple[int, int, str]:
        return keys.setdefault(node, (-rng.randint(0, 5), rng.randint(0, 3), f"t3_{node:x}"))

    edges = [(key(a), key(b)) for a, b in mixed_graph(seed=1)]
    expected = components_union_find(edges)
    best = min(keys.values())
    assert expected[best] == best
    counters = run_components(edges, equal_to(sorted(expected.items())), args=TWO_PROCESSES)
    assert counters["components_unconverged_edges"] == 0
    assert counters["components"] == len(set(expected.values()))


def one_label_each_at_most_its_node(nodes: set[int]):
    """What still holds when the rounds stop short: every node once, labelled by a node of its chain."""

    def check(labels: list[tuple[int, int]]) -> None:
        labelled = dict(labels)
        if len(labelled) != len(labels) or set(labelled) != nodes:
            raise BeamAssertException(f"{len(labels)} labels for {len(nodes)} nodes")
        if not all(label in nodes and label <= node for node, label in labels):
            raise BeamAssertException("a label is not a smaller node of the chain")
        if len(set(labelled.values())) == 1:
            raise BeamAssertException("two rounds labelled a 1,000-node chain correctly")

    return check


def test_too_few_rounds_are_counted():
    chain = list(range(1000))
    edges = path(chain)
    random.Random(2).shuffle(edges)
    counters = run_components(edges, one_label_each_at_most_its_node(set(chain)), max_rounds=2)
    assert counters["components_unconverged_edges"] > 0


def test_rounds_must_be_positive():
    with pytest.raises(ValueError, match="max_rounds"):
        ConnectedComponents(max_rounds=0)
