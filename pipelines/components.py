"""Connected components in Beam, for grouping near-duplicate documents.

Beam graphs have no loops and no step may see every edge, so the components come from a fixed number
of rounds of Large-Star then Small-Star (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014), each step one GroupByKey over the edges. Both steps keep every component
connected while pulling its nodes towards its smallest node; a component is done once it is a star
around that node, and from then on the rounds leave it unchanged. The rounds needed grow with the
logarithm of a component's size: a 1,000-node path is labelled after 10 rounds if its nodes are in
key order (each round halves it), after about 8 if they are shuffled; 100,000 nodes in
key order take 17.

The steps stream each node's neighbours twice instead of holding them, so a large component is one
large group, never a list in memory. Duplicate edges are not removed up front: neither step can make
more edges than it reads, and the first Small-Star that reaches a star drops them. Rounds after a
component converged cost one pass over its star's edges, one fewer than its nodes (a near-duplicate
cluster starts with up to one edge per pair), and Small-Star's groups are then single edges.

Whether `max_rounds` was enough is the counter `components_unconverged_edges`: the edges the last
round still changed. 0 means every label is its component's smallest node (it takes one round more
than the labels need, the one that changes nothing); otherwise some components may be split or
labelled by a larger node of theirs, and `max_rounds` should be raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.metrics import count

Node = Any
"""Any hashable, totally ordered, picklable value with a deterministic Beam coder (ints, strings,
tuples of them); a component's representative is its smallest node."""

Edge = tuple[Node, Node]


def both_ways(edge: Edge) -> Iterator[Edge]:
    """Large-Star sees every neighbour of a node; self-loops connect nothing and are left out."""
    a, b = edge
    if a != b:
        yield a, b
        yield b, a


def large_star(node: Node, neighbours: Iterable[Node], count_changes: bool = False) -> Iterator[Edge]:
    """Links each larger neighbour of `node` to the smallest node of its neighbourhood.

    An edge (larger, node) changes only when `node` is not the smallest of its neighbourhood.
    """
    smallest = min(node, min(neighbours))
    larger = 0
    for neighbour in neighbours:
        if neighbour > node:
            larger += 1
            yield neighbour, smallest
    if count_changes and smallest < node:
        count("components_unconverged_edges", larger)


def small_star(node: Node, smaller: Iterable[Node], count_changes: bool = False) -> Iterator[Edge]:
    """Links `node` and its smaller neighbours to the smallest of them.

    Nothing changes when `node` has a single smaller neighbour, which is so for every node of a star.
    """
    smallest = min(smaller)
    yield node, smallest
    changed = 0
    for neighbour in smaller:
        if neighbour != smallest:
            changed += 1
            yield neighbour, smallest
    if count_changes:
        count("components_unconverged_edges", changed)


def endpoint_labels(edge: Edge) -> Iterator[Edge]:
    """Each end of an edge with the smaller end; a node's smallest such label is its component's
    smallest node once the edges are stars."""
    a, b = edge
    smallest = min(a, b)
    yield a, smallest
    yield b, smallest


def count_label(node: Node, label: Node) -> Edge:
    count("component_nodes")
    if node == label:
        count("components")
    return node, label


class ConnectedComponents(beam.PTransform):
    """Undirected edges (node, node) -> (node, smallest node of its component), once for every node
    that is an end of some edge (self-loops included); nodes in no edge are the caller's to add.

    A round is one Large-Star and one Small-Star; see the module docstring for how many are needed and
    the counter that tells if `max_rounds` was too few.
    """

    def __init__(self, max_rounds: int = 20):
        super().__init__()
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, not {max_rounds}")
        self.max_rounds = max_rounds

    def expand(self, edges: beam.PCollection[Edge]) -> beam.PCollection[Edge]:
        current = edges
        for index in range(1, self.max_rounds + 1):
            last = index == self.max_rounds
            current = (
                current
                | f"BothWays{index}" >> beam.FlatMap(both_ways)
                | f"GroupLarge{index}" >> beam.GroupByKey()
                | f"LargeStar{index}" >> beam.FlatMapTuple(large_star, count_changes=last)
                | f"GroupSmall{index}" >> beam.GroupByKey()
                | f"SmallStar{index}" >> beam.FlatMapTuple(small_star, count_changes=last)
            )
        self_loops = edges | "SelfLoops" >> beam.Filter(lambda edge: edge[0] == edge[1])
        return (
            (current, self_loops)
            | "WithSelfLoops" >> beam.Flatten()
            | "EndpointLabels" >> beam.FlatMap(endpoint_labels)
            | "SmallestLabel" >> beam.CombinePerKey(min)
            | "Count" >> beam.MapTuple(count_label)
        )


def components_union_find(edges: Iterable[Edge]) -> dict[Node, Node]:
    """A single-machine reference for tests: every node of `edges` -> its component's smallest node."""
    parent: dict[Node, Node] = {}

    def root(node: Node) -> Node:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {node: root(node) for node in list(parent)}
