"""Fetch and Extract throughput of the WebText build on Beam, each against its anchor, in one run.

Extract: pages/s of `Extract` in a real pipeline on the FnApiRunner against a plain loop of
`trafilatura.extract` (issue target >= 0.9x), with the `Extractor` alone in between so that the cost of
the child process and of Beam can be told apart. The pages are the bundled sample's articles plus HTML
documentation found on this machine (Debian's /usr/share/doc, /usr/lib, the Rust docs if rustup is
installed): a varied, offline mix. Every contender of ours must give `extract_page`'s texts.

Fetch: pages/s of `FetchLive` in a real pipeline (one worker) and of the bare `Crawler` against local
servers that each add a fixed latency, with politeness checked from the servers' own request logs.
The servers run in a child process so that their threads do not share the crawler's GIL, as a
remote server would not.

    .venv/bin/python bench/build.py [--pages 250] [--rounds 2] [--hosts 40] [--pages-per-host 20]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import itertools
import json
import logging
import multiprocessing
import os
import pickle
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path

import apache_beam as beam
import trafilatura
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.extracting import Extract
from pipelines.fetching import Fetched, FetchLive
from pipelines.metrics import read_counters
from webtext.crawler import Crawler
from webtext.extract import ExtractConfig, Extracted, extract_page
from webtext.extractor import Extractor
from webtext.fetch import FetchConfig, Fetcher
from webtext.hosts import host_key
from webtext.links import Provenance
from webtext.page import Page, page_rejection

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from webserver import Request, Response, WebServer, max_in_flight, min_start_gap  # noqa: E402

ONE_WORKER = ["--runner=FnApiRunner"]
TWO_PROCESSES = [
    *ONE_WORKER,
    "--direct_num_workers=2",
    "--direct_running_mode=multi_processing",
    "--default_sdk_harness_log_level=ERROR",
]
HTML_ROOTS = (Path("/usr/share/doc"), Path("/usr/lib"), Path("/usr/share/gtk-doc"))
RUST_DOCS = ".rustup/toolchains/stable-*/share/doc/rust/html"
MIN_HTML_BYTES, MAX_HTML_BYTES = 3_000, 400_000
PERMISSIVE_ROBOTS = "User-agent: *\nAllow: /\n"
GAP_TOLERANCE = 0.01
"""Seconds the paced gap (see Politeness) may fall short of host_delay by: the gate spaces the moments it
grants slots, and a thread sends its request a few ms after its grant, more or less on a busy machine."""
PROVENANCE = Provenance(("bench",), ("bench",), 1, 1, 1_500_000_000, "bench")
DEFAULTS = "trafilatura.extract, defaults"
REFERENCE = "extract_page in process"
BEAM_EXTRACT = "Beam Extract, FnApiRunner 1 worker"
BEAM_EXTRACT_2 = "Beam Extract, 1 worker, 2 children"
BEAM_FETCH = "Beam FetchLive, FnApiRunner 1 worker"
QUIET_LOGGERS = ("trafilatura", "htmldate", "courlan", "charset_normalizer", "apache_beam")


# ---------------------------------------------------------------------- pages


def _sample_articles() -> list[Page]:
    """The bundled sample's pages that Fetch would keep; make_sample is a script, loaded by path."""
    spec = importlib.util.spec_from_file_location("make_sample", REPO / "samples" / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_sample"] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return [page for page in module.sample_pages() if page_rejection(page) is None]


def _collections() -> dict[str, list[Path]]:
    """Local HTML files of a sensible size, grouped by the package or book they belong to."""
    roots = [*HTML_ROOTS, *sorted(Path.home().glob(RUST_DOCS))[:1]]
    groups: dict[str, list[Path]] = defaultdict(list)
    for root in roots:
        for path in sorted(root.rglob("*.html")):
            try:
                size = path.stat().st_size
                if path.is_symlink() or not path.is_file() or not MIN_HTML_BYTES <= size <= MAX_HTML_BYTES:
                    continue
            except OSError:
                continue
            groups[f"{root}/{path.relative_to(root).parts[0]}"].append(path)
    return groups


def local_html(count: int) -> list[Path]:
    """`count` files taken in turn from every collection, so that no one kind of page dominates."""
    columns = [paths for _, paths in sorted(_collections().items())]
    rows = itertools.zip_longest(*columns)
    return [path for row in rows for path in row if path is not None][:count]


def page_set(count: int) -> list[Page]:
    pages = _sample_articles()
    for path in local_html(count - len(pages)):
        url = f"https://docs.example{path}"
        pages.append(Page(url, url, 200, (("Content-Type", "text/html"),), path.read_bytes(), 0.0))
    if len({page.url for page in pages}) != len(pages):
        raise SystemExit("page URLs must be unique: outputs are matched on them")
    return pages


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------------- extract contenders


def trafilatura_defaults(pages: list[Page]) -> None:
    for page in pages:
        trafilatura.extract(page.body, url=page.final_url)


def in_process(pages: list[Page]) -> dict[str, str | None]:
    """url -> text digest (None: no document); the reference every contender of ours must match."""
    outcomes = (extract_page(page.body, page.charset, page.final_url) for page in pages)
    return {
        page.url: _digest(o.text) if isinstance(o, Extracted) else None for page, o in zip(pages, outcomes)
    }


def extractor_alone(pages: list[Page]) -> dict[str, str | None]:
    with Extractor(ExtractConfig()) as extractor:  # its child starts here, as in ExtractFn.setup
        outcomes = [extractor.extract(page.body, page.charset, page.final_url) for page in pages]
    return {
        page.url: _digest(o.text) if isinstance(o, Extracted) else None for page, o in zip(pages, outcomes)
    }


def _load_fetched(path: str) -> Fetched:
    page = pickle.loads(Path(path).read_bytes())
    return Fetched(page.url, PROVENANCE, page, "warc")


def _run(build: Callable[[beam.Pipeline], None], args: list[str]) -> dict[str, int]:
    """Runs a pipeline to the end; its webtext counters."""
    pipeline = beam.Pipeline(options=PipelineOptions(args))
    build(pipeline)
    result = pipeline.run()
    result.wait_until_finish()
    return Counter(read_counters(result))


def extract_pipeline(
    page_files: list[str], args: list[str], out: Path, config: ExtractConfig
) -> dict[str, str | None]:
    """Create(paths) | load | Extract, the documents' digests written out; url -> digest as above."""

    def build(pipeline: beam.Pipeline) -> None:
        documents = (
            pipeline
            | "Paths" >> beam.Create(page_files)
            | "Load" >> beam.Map(_load_fetched)
            | "Extract" >> Extract(config)
        )
        (
            documents.kept
            | "Digest" >> beam.Map(lambda d: json.dumps([d.canonical_url, _digest(d.text)]))
            | "Write" >> beam.io.WriteToText(str(out / "digests"))
        )

    counters = _run(build, args)
    digests = dict(json.loads(line) for path in out.glob("digests*") for line in path.open())
    if counters["documents_extracted"] != len(digests):
        raise SystemExit(f"documents_extracted {counters['documents_extracted']} != {len(digests)} written")
    return digests


def mismatches(ours: dict[str, str | None], reference: dict[str, str | None]) -> int:
    return sum(ours.get(url) != digest for url, digest in reference.items()) + len(ours.keys() - reference)


def bench_extract(pages: list[Page], rounds: int, scratch: Path) -> dict[str, tuple[float, int]]:
    """Best seconds and most text mismatches of each contender; they take turns, in a rotating order."""
    page_files = []
    for i, page in enumerate(pages):
        page_files.append(str(scratch / f"page-{i:05}.pickle"))
        Path(page_files[-1]).write_bytes(pickle.dumps(page))
    runs = itertools.count()
    contenders: dict[str, Callable[[], dict | None]] = {
        DEFAULTS: lambda: trafilatura_defaults(pages),
        REFERENCE: lambda: in_process(pages),
        "Extractor alone (child process)": lambda: extractor_alone(pages),
        BEAM_EXTRACT: lambda: extract_pipeline(
            page_files, ONE_WORKER, scratch / f"run-{next(runs)}", ExtractConfig()
        ),
        BEAM_EXTRACT_2: lambda: extract_pipeline(
            page_files, ONE_WORKER, scratch / f"run-{next(runs)}", ExtractConfig(processes=2)
        ),
        "Beam Extract, 2 processes": lambda: extract_pipeline(
            page_files, TWO_PROCESSES, scratch / f"run-{next(runs)}", ExtractConfig()
        ),
    }
    names = list(contenders)
    seconds: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, list[dict]] = defaultdict(list)
    for round_ in range(rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            outcome = contenders[name]()
            seconds[name].append(time.perf_counter() - started)
            if outcome is not None:
                outcomes[name].append(outcome)
        print(
            f"  round {round_ + 1}/{rounds}: " + ", ".join(f"{seconds[n][-1]:.1f}" for n in names), flush=True
        )
    reference = outcomes[REFERENCE][0]
    documents = sum(digest is not None for digest in reference.values())
    print(f"  {documents} of {len(pages)} pages give a document (extract_page)")
    return {
        name: (min(seconds[name]), max((mismatches(o, reference) for o in outcomes[name]), default=0))
        for name in names
    }


# ---------------------------------------------------------------------- fetch


def serve(bodies: list[bytes], hosts: int, pages_per_host: int, latency: float, connection) -> None:
    """The child process: `hosts` servers; sends their ports, then, when told to stop, their logs."""
    routes = {f"/articles/{i}.html": Response(body=bodies[i % len(bodies)]) for i in range(pages_per_host)}
    servers = [WebServer(routes, robots=PERMISSIVE_ROBOTS, latency=latency).start() for _ in range(hosts)]
    connection.send([server.port for server in servers])
    connection.recv()
    for server in servers:
        server.stop()
    connection.send({server.host: server.requests for server in servers})


def crawl_pipeline(links: list[tuple[str, Provenance]], config: FetchConfig, threads: int) -> Counter[str]:
    """Create | FetchLive | count; reasons of the drops (and "kept")."""

    def build(pipeline: beam.Pipeline) -> None:
        _ = pipeline | "Links" >> beam.Create(links) | "Fetch" >> FetchLive(replace(config, threads=threads))

    counters = _run(build, ONE_WORKER)
    outcomes = Counter(
        {name.removeprefix("fetch_dropped_"): n for name, n in counters.items() if "dropped" in name}
    )
    outcomes["kept"] = counters["pages_fetched"]
    return outcomes


def crawl_bare(links: list[tuple[str, Provenance]], config: FetchConfig, threads: int) -> Counter[str]:
    """The same crawl without Beam, driven as FetchHostsFn drives it."""
    by_host: dict[str, list] = defaultdict(list)
    for url, provenance in links:
        by_host[host_key(url)].append((url, provenance))
    outcomes: Counter[str] = Counter()

    def tally(results: Iterator) -> None:
        for _, _, outcome in results:
            outcomes["kept" if isinstance(outcome, Page) else outcome] += 1

    with Fetcher(config) as fetcher, Crawler(fetcher, threads=threads) as crawler:
        for host, items in by_host.items():
            crawler.submit(host, items)
            tally(crawler.ready())
        tally(crawler.drain())
    return outcomes


@dataclass(frozen=True)
class Politeness:
    """One crawl as the servers saw it: the worst host's figures."""

    first_gap: float
    """Seconds between a host's first two request starts (robots.txt, then a page on the same connection)."""
    later_gap: float
    """The shortest time between two later request starts on any host."""
    paced_gap: float
    """The same over two gaps, halved: a request stamped late (its thread waited for the server's GIL)
    shortens the gap after it by what it adds to the gap before, so this is what the crawler's pacing was."""
    in_flight: int
    robots: frozenset[int]
    """How many robots.txt requests each host got."""
    span: float
    """First request start to last request end, over all hosts: the crawl without Beam's start-up."""

    @classmethod
    def of(cls, logs: dict[str, list[Request]], start: float, end: float) -> Politeness:
        hosts = [
            sorted((r for r in log if start <= r.started <= end), key=lambda r: r.started)
            for log in logs.values()
        ]
        served = [request for host in hosts for request in host]
        return cls(
            first_gap=min(host[1].started - host[0].started for host in hosts),
            later_gap=min(min_start_gap(host[1:]) for host in hosts),
            paced_gap=min(_paced_gap(host[1:]) for host in hosts),
            in_flight=max(max_in_flight(host) for host in hosts),
            robots=frozenset(sum(r.path == "/robots.txt" for r in host) for host in hosts),
            span=max(r.finished for r in served) - min(r.started for r in served),
        )

    def worst(self, other: Politeness) -> Politeness:
        return Politeness(
            min(self.first_gap, other.first_gap),
            min(self.later_gap, other.later_gap),
            min(self.paced_gap, other.paced_gap),
            max(self.in_flight, other.in_flight),
            self.robots | other.robots,
            min(self.span, other.span),  # the best run's, as for the seconds
        )


def _paced_gap(requests: list[Request]) -> float:
    starts = [request.started for request in requests]
    return min(((b - a) / 2 for a, b in zip(starts, starts[2:])), default=float("inf"))


@dataclass(frozen=True)
class FetchResult:
    seconds: float
    """The best run's."""
    outcomes: Counter[str]
    """"kept" or a drop reason, over all runs."""
    seen: Politeness


def bench_fetch(args: argparse.Namespace, ports: list[int], server: Connection) -> dict[str, FetchResult]:
    """Each contender crawls every host's pages once a round; politeness is read from the servers' logs."""
    links = [
        (f"http://127.0.0.1:{port}/articles/{i}.html", PROVENANCE)
        for i in range(args.pages_per_host)
        for port in ports
    ]
    config = fetch_config(args)
    contenders = {
        BEAM_FETCH: lambda: crawl_pipeline(links, config, args.threads),
        "Crawler alone (no Beam)": lambda: crawl_bare(links, config, args.threads),
    }
    names = list(contenders)
    runs: dict[str, list[tuple[float, float, Counter[str]]]] = defaultdict(list)
    for round_ in range(args.rounds):
        for name in names[round_ % 2 :] + names[: round_ % 2]:
            started = time.monotonic()
            outcomes = contenders[name]()
            runs[name].append((started, time.monotonic(), outcomes))
            time.sleep(args.host_delay)  # so that no gap is measured across two runs
        took = [end - start for start, end, _ in (runs[name][-1] for name in names)]
        print(f"  round {round_ + 1}/{args.rounds}: " + ", ".join(f"{t:.1f}" for t in took), flush=True)
    server.send("stop")
    logs = server.recv()
    return {
        name: FetchResult(
            seconds=min(end - start for start, end, _ in done),
            outcomes=sum((outcomes for _, _, outcomes in done), Counter()),
            seen=functools.reduce(
                Politeness.worst, (Politeness.of(logs, start, end) for start, end, _ in done)
            ),
        )
        for name, done in runs.items()
    }


def fetch_config(args: argparse.Namespace) -> FetchConfig:
    return FetchConfig(allow_private=True, host_delay=args.host_delay, host_concurrency=1)


# ---------------------------------------------------------------------- report


def politeness_ceiling(args: argparse.Namespace) -> float:
    """Pages/s if every host were crawled as fast as its delay allows: robots.txt and then its pages,
    one host per thread at a time."""
    per_host = (args.pages_per_host + 1) * max(args.host_delay, args.latency)
    waves = -(-args.hosts // args.threads)
    return args.hosts * args.pages_per_host / (waves * per_host)


def report(args: argparse.Namespace, pages: int, extract: dict[str, tuple[float, int]], fetch: dict) -> None:
    config = fetch_config(args)
    fetched = args.hosts * args.pages_per_host
    print(
        f"\nfetch settings: threads={args.threads}, host_delay={config.host_delay} s, "
        f"host_concurrency={config.host_concurrency}, {args.hosts} hosts x {args.pages_per_host} pages, "
        f"{args.latency * 1000:.0f} ms latency; politeness ceiling ~{politeness_ceiling(args):.0f} pages/s"
    )
    print(f"\n{'step':<8} {'contender':<38} {'seconds':>8} {'pages/s':>8}  ratio to trafilatura.extract")
    for name, (seconds, _) in extract.items():
        ratios = ""
        if name != DEFAULTS:
            ratios = f"{extract[DEFAULTS][0] / seconds:.2f}x"
        print(f"{'extract':<8} {name:<38} {seconds:8.2f} {pages / seconds:8.1f}  {ratios}")
    for name, result in fetch.items():
        print(
            f"{'fetch':<8} {name:<38} {result.seconds:8.2f} {fetched / result.seconds:8.1f}  "
            f"(first request to last answer: {fetched / result.seen.span:.1f} pages/s)"
        )

    print("\nchecks:")
    for name in (BEAM_EXTRACT, BEAM_EXTRACT_2):
        ratio = extract[DEFAULTS][0] / extract[name][0]
        print(f"  {name} vs {DEFAULTS}: {ratio:5.2f}x  target >= 0.9x  {_verdict(ratio >= 0.9)}")
    for name, (_, wrong) in extract.items():
        if name not in (DEFAULTS, REFERENCE):
            print(f"  {name:<38} texts differing from extract_page's: {wrong} of {pages}")
    speed = fetched / fetch[BEAM_FETCH].seconds
    print(f"  {BEAM_FETCH:<38} {speed:.1f} pages/s, target >= 50 per worker  {_verdict(speed >= 50)}")
    for name, result in fetch.items():
        seen, dropped = result.seen, {k: n for k, n in result.outcomes.items() if k != "kept"}
        paced = _verdict(seen.paced_gap >= config.host_delay - GAP_TOLERANCE)
        in_flight = _verdict(seen.in_flight <= config.host_concurrency)
        robots = _verdict(seen.robots == {1})
        print(f"  {name:<38} kept {result.outcomes['kept']}, dropped {sum(dropped.values())} {dropped or ''}")
        print(
            f"  {'':<38} per host, server side: start gap paced {seen.paced_gap * 1000:.0f} ms ({paced}), "
            f"raw min {seen.later_gap * 1000:.0f} ms*, robots.txt to page {seen.first_gap * 1000:.0f} ms*"
        )
        print(
            f"  {'':<38} max in flight {seen.in_flight} ({in_flight}), "
            f"robots.txt requests {sorted(seen.robots)} ({robots})"
        )
    print(
        "  * stamped by the server after it accepts and parses a request: a late stamp (a new connection, a\n"
        "    thread waiting for the GIL) shortens the next gap; 'paced' averages two gaps to cancel that out"
    )


def _verdict(ok: bool) -> str:
    return "ok" if ok else "FAILS"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=250, help="pages for the Extract benchmark")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each contender; the best counts")
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--pages-per-host", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds each server adds per answer")
    parser.add_argument("--host-delay", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=40, help="FetchLive's crawler threads")
    args = parser.parse_args()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)

    articles = _sample_articles()
    bodies = [page.body for page in articles if len(page.body) > 1000]
    # Forked before any pipeline has started a thread; the servers live until the fetch runs are done.
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(
        target=serve, args=(bodies, args.hosts, args.pages_per_host, args.latency, theirs), daemon=True
    )
    server.start()
    print(f"fetch: {args.hosts} hosts x {args.pages_per_host} pages ({len(bodies)} sample article bodies)")
    fetch = bench_fetch(args, ours.recv(), ours)
    server.join()

    pages = page_set(args.pages)
    megabytes = sum(len(page.body) for page in pages) / 1e6
    print(f"extract: {len(pages)} pages ({len(articles)} sample articles, local docs), {megabytes:.1f} MB")
    with tempfile.TemporaryDirectory() as scratch:
        extract = bench_extract(pages, args.rounds, Path(scratch))

    report(args, len(pages), extract, fetch)
    load = os.getloadavg()[0]
    print(f"\nload average at the end: {load:.1f} on {os.cpu_count()} cores (other work skews every figure;")
    print("the contenders take turns so that they share the skew)")
    print("\nreproduce: .venv/bin/python bench/build.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
