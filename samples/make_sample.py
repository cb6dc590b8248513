"""Builds the bundled sample in samples/build/: two Reddit submission dumps and two WARC files.

Everything is made up here, so the sample has no third-party content and `make demo` runs offline.
The pages are designed so that every stage of `webtext build` has something to keep and something
to drop; samples/README.md lists each submission and page with its expected fate. The build is
deterministic (fixed dates and record ids, zstd at a fixed level, gzip members with mtime 0), and
tests/test_warc.py checks that the committed files equal a fresh build: rerun this after any edit.

    python samples/make_sample.py
"""

from __future__ import annotations

import gzip
import html
import json
from dataclasses import dataclass
from email.utils import formatdate
from io import BytesIO
from pathlib import Path
from uuid import NAMESPACE_URL, uuid5

import zstandard
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from webtext.page import Page
from webtext.warc import WarcPageWriter

PAGES = Path(__file__).resolve().parent / "pages"
BUILD = Path(__file__).resolve().parent / "build"
ZSTD_LEVEL = 10
CRAWLED = 1514160000  # 2017-12-25T00:00:00Z; page i was fetched i minutes later

HTML = ("Content-Type", "text/html; charset=utf-8")
SERVER = ("Server", "nginx")


@dataclass(frozen=True)
class Site:
    """The boilerplate around an article: what extraction must strip."""

    name: str
    nav: tuple[str, ...]
    sidebar: tuple[str, ...]
    footer: str
    lang: str = "en"


SITES = {
    "www.northfieldgazette.example": Site(
        "The Northfield Gazette",
        ("News", "Sports", "Opinion", "Obituaries", "Events", "Subscribe"),
        ("Council delays vote on parking meters", "High school wins regional quiz bowl", "Weekend weather"),
        "© 2017 Northfield Gazette Media. All rights reserved. Contact us · Advertise · Privacy policy",
    ),
    "www.newsaggregate.example": Site(
        "NewsAggregate",
        ("Top stories", "Local", "World", "Tech", "Sign in"),
        ("Trending: ten gadgets under $20", "Sponsored: refinance your home today"),
        "NewsAggregate republishes stories from partner newspapers. Terms · Cookies",
    ),
    "www.valleyherald.example": Site(
        "Valley Herald",
        ("Home", "Region", "Schools", "Business", "Letters"),
        ("Letters: the roundabout debate", "Business briefs"),
        "Valley Herald, serving the Millbrook valley since 1921. Send us a tip.",
    ),
    "cookingwithmarta.example": Site(
        "Cooking with Marta",
        ("Recipes", "Baking", "Soups", "About me", "Newsletter"),
        ("Popular: ten-minute flatbreads", "Popular: the only pancake recipe you need", "Get my newsletter"),
        "All recipes and photos © Marta. Please link, don't copy.",
    ),
    "blog.tinkerbench.example": Site(
        "Tinker Bench",
        ("Posts", "Projects", "Resources", "About"),
        ("Recent: a clock from an old radio", "Recent: fixing a dead power bank"),
        "Tinker Bench is a one-person blog about small electronics and code.",
    ),
    "www.pagesandmargins.example": Site(
        "Pages & Margins",
        ("Reviews", "Interviews", "Lists", "Book club"),
        ("This month's book club pick", "Our favourite debut novels"),
        "Pages & Margins · reviews by readers, for readers.",
    ),
    "wanderingnotes.example": Site(
        "Wandering Notes",
        ("Journal", "Maps", "Gear", "Contact"),
        ("Archive: autumn in the lake district", "Archive: one week, one backpack"),
        "Words and photos from slow travel. Subscribe by email.",
    ),
    "www.sciencecorner.example": Site(
        "Science Corner",
        ("Physics", "Biology", "Space", "Ask a scientist"),
        ("Why do cats purr?", "How far away is the horizon?", "Ask us a question"),
        "Science Corner explains everyday science. Questions welcome.",
    ),
    "fieldandfeather.example": Site(
        "Field & Feather",
        ("Guides", "Sightings", "Gear reviews", "Forum"),
        ("This week's sightings map", "Gear: binoculars under $150"),
        "Field & Feather, a community of amateur naturalists.",
    ),
    "cuisine-de-lea.example": Site(
        "La cuisine de Léa",
        ("Recettes", "Desserts", "À propos"),
        ("Les plus lus : quiche lorraine",),
        "© Léa. Tous droits réservés.",
        "fr",
    ),
    "www.wanderblog-alpen.example": Site(
        "Wanderblog Alpen",
        ("Touren", "Hütten", "Ausrüstung", "Kontakt"),
        ("Beliebt: Klettersteige für Einsteiger",),
        "Impressum · Datenschutz",
        "de",
    ),
    "www.newsite-under-construction.example": Site(
        "My New Site",
        ("Home", "Sample page"),
        ("Recent posts",),
        "Proudly powered by a website builder.",
    ),
    "www.cheaphoteldeals.example": Site(
        "Cheap Hotel Deals",
        ("Hotels", "Flights", "Deals"),
        ("Top deals this week",),
        "© Cheap Hotel Deals. We may earn a commission.",
    ),
}


@dataclass(frozen=True)
class Article:
    """One HTML page: a body from samples/pages/<body>.html inside its site's template."""

    url: str
    body: str
    title: str
    published: str
    comments: tuple[str, ...] = ()


ARTICLES = {
    "bridge": Article(
        "https://www.northfieldgazette.example/2017/11/millbrook-bridge-reopens",
        "millbrook-bridge",
        "Millbrook Street bridge reopens after eight months of repairs",
        "2017-11-14",
        ("Finally! The detour added twenty minutes to my commute.", "Love the new walking path."),
    ),
    "bridge_syndicated": Article(
        "https://www.newsaggregate.example/local/northfield/millbrook-bridge-reopens-2017-11-14",
        "millbrook-bridge",
        "Millbrook Street bridge reopens after eight months of repairs",
        "2017-11-14",
    ),
    "library": Article(
        "https://www.northfieldgazette.example/2017/11/library-digitizes-council-minutes",
        "library-council-minutes",
        "Library volunteers put a century of council minutes online",
        "2017-11-20",
        ("My grandfather is in the 1950s minutes! Thank you, volunteers.",),
    ),
    "school": Article(
        "https://www.northfieldgazette.example/2017/12/school-board-later-start",
        "school-start-times",
        "School board approves later start for high school",
        "2017-12-05",
        ("What about the bus drivers' hours?", "About time."),
    ),
    "school_edited": Article(
        "https://www.valleyherald.example/schools/2017/12/northfield-later-start",
        "school-start-times",
        "Northfield High will start classes later next year",
        "2017-12-06",
    ),
    "market": Article(
        "https://www.northfieldgazette.example/2017/11/farmers-market-moves-indoors",
        "farmers-market-indoors",
        "Farmers market moves indoors for the winter",
        "2017-11-28",
    ),
    "notice": Article(
        "https://www.northfieldgazette.example/2017/12/harbor-road-closure",
        "road-closure-notice",
        "Harbor Road closed Thursday",
        "2017-12-11",
    ),
    "soup": Article(
        "https://cookingwithmarta.example/recipes/weeknight-lentil-soup",
        "weeknight-lentil-soup",
        "Weeknight lentil soup with smoked paprika",
        "2017-10-30",
        ("Made this tonight, the lemon really makes it.", "Can I use an Instant Pot?"),
    ),
    "sourdough": Article(
        "https://cookingwithmarta.example/baking/sourdough-for-busy-people",
        "sourdough-schedule",
        "Sourdough without the stress: a schedule for busy people",
        "2017-11-06",
        ("The fridge trick changed everything for me.",),
    ),
    "generators": Article(
        "https://blog.tinkerbench.example/2017/09/log-files-with-generators",
        "python-log-generators",
        "Parsing big log files in Python with generators",
        "2017-09-18",
        ("Nice writeup. itertools.islice is handy for sampling too.",),
    ),
    "sensor": Article(
        "https://blog.tinkerbench.example/2017/08/soil-moisture-sensor",
        "soil-moisture-sensor",
        "A soil moisture sensor for forgetful plant owners",
        "2017-08-27",
    ),
    "resources": Article(
        "https://blog.tinkerbench.example/resources",
        "tinkerbench-resources",
        "Resources for beginners",
        "2017-06-01",
    ),
    "hotels": Article(
        "https://www.cheaphoteldeals.example/europe/cheap-hotel-deals",
        "cheap-hotel-deals",
        "Cheap hotel deals in Europe",
        "2017-07-01",
    ),
    "review": Article(
        "https://www.pagesandmargins.example/reviews/the-lighthouse-accounts",
        "lighthouse-accounts-review",
        "Review: The Lighthouse Accounts by Miriam Castellan",
        "2017-10-12",
        ("Adding this to my list.", "I felt the same way about the sister subplot."),
    ),
    "coast": Article(
        "https://wanderingnotes.example/journal/three-days-on-the-coast-path",
        "coastal-path-diary",
        "Three days on the coast path",
        "2017-09-03",
    ),
    "mountain": Article(
        "https://wanderingnotes.example/journal/rain-in-val-sorella",
        "mountain-town-rain",
        "A rainy week in Val Sorella",
        "2017-10-22",
    ),
    "sunset": Article(
        "https://www.sciencecorner.example/2017/10/why-sunsets-are-red",
        "red-sunsets",
        "Why is the sky red at sunset?",
        "2017-10-02",
        ("Great explanation, my kids finally get it.",),
    ),
    "bats": Article(
        "https://www.sciencecorner.example/2017/07/how-bats-hunt-in-the-dark",
        "bats-echolocation",
        "How do bats find insects in the dark?",
        "2017-07-19",
    ),
    "birds": Article(
        "https://fieldandfeather.example/guides/birdwatching-for-beginners",
        "birdwatching-beginners",
        "Birdwatching for beginners: what I wish I had known",
        "2017-05-14",
        ("Great tip about raising the binoculars to your eyes.",),
    ),
    "french": Article(
        "https://cuisine-de-lea.example/recettes/tarte-aux-pommes",
        "tarte-aux-pommes",
        "La tarte aux pommes de ma grand-mère",
        "2017-10-08",
    ),
    "german": Article(
        "https://www.wanderblog-alpen.example/touren/herbstwanderung-gruensee",
        "herbstwanderung",
        "Herbstwanderung zum Grünsee",
        "2017-10-15",
    ),
    "lorem": Article(
        "https://www.newsite-under-construction.example/sample-page",
        "lorem-ipsum",
        "Sample page",
        "2017-11-01",
    ),
}

NEAR_DUPLICATE_EDIT = (
    "The district's transportation office has also had to rework its bus routes.",
    "Bus schedules will change as well, the district's transportation office said on Tuesday.",
)
"""school_edited is school with one paragraph reworded: a near duplicate, not an exact one."""

SHORT_URL = "http://nfg.example/s/4kx9"
"""A link shortener in front of `market`: the crawl stored the final response under this URL."""
OLD_SOUP_URL = "http://cookingwithmarta.example/2017/lentil-soup"
"""Moved permanently to `soup`; replay does not follow the redirect."""
MISSING_URL = "https://www.sciencecorner.example/2017/08/eclipse-viewing-tips"
"""Linked, but never crawled: no record in any WARC."""
PDF_URL = "https://www.northfieldgazette.example/documents/town-budget-2018"
GONE_URL = "https://www.northfieldgazette.example/2017/09/old-story-removed"
UNLINKED_URL = "https://fieldandfeather.example/forum/whats-this-bird"
COMPRESS_URL = "https://fieldandfeather.example/guides/owl-pellets"
TRUNCATED_URL = "https://fieldandfeather.example/sightings/december"


def render(article: Article, text: str | None = None, charset: str = "utf-8") -> str:
    """The article's full HTML page: head, nav, the article with its date, sidebar, comments, footer."""
    site = SITES[article.url.split("/")[2]]
    body = text if text is not None else (PAGES / f"{article.body}.html").read_text(encoding="utf-8")
    nav = "".join(
        f'<li><a href="/{item.lower().replace(" ", "-")}">{html.escape(item)}</a></li>' for item in site.nav
    )
    sidebar = "".join(
        f'<li><a href="/related/{i}">{html.escape(item)}</a></li>' for i, item in enumerate(site.sidebar)
    )
    comments = "".join(
        f'<li class="comment"><span class="author">reader{i + 1}</span><p>{html.escape(comment)}</p></li>'
        for i, comment in enumerate(article.comments)
    )
    return f"""<!DOCTYPE html>
<html lang="{site.lang}">
<head>
<meta charset="{charset}">
<title>{html.escape(article.title)} | {html.escape(site.name)}</title>
<meta name="date" content="{article.published}">
<meta property="article:published_time" content="{article.published}T08:00:00Z">
<link rel="canonical" href="{article.url}">
</head>
<body>
<header><a class="logo" href="/">{html.escape(site.name)}</a>
<nav><ul>{nav}</ul></nav></header>
<main>
<article>
<h1>{html.escape(article.title)}</h1>
<p class="byline">Published <time datetime="{article.published}">{article.published}</time></p>
{body}</article>
<section id="comments"><h3>Comments ({len(article.comments)})</h3><ul>{comments}</ul>
<form><textarea name="comment"></textarea><button>Post comment</button></form></section>
</main>
<aside><h3>More from {html.escape(site.name)}</h3><ul>{sidebar}</ul></aside>
<footer><p>{html.escape(site.footer)}</p></footer>
</body>
</html>
"""


def sample_pages() -> list[Page]:
    """What our crawler would have fetched for the sample, in crawl order: samples/build/pages.warc.gz."""
    responses = [
        *(_html(name) for name in ("bridge", "bridge_syndicated", "library", "school")),
        _html("school_edited", text=_near_duplicate()),
        _html("market", asked_for=SHORT_URL),
        *(_html(name) for name in ("notice", "soup", "sourdough", "generators", "sensor", "resources")),
        *(_html(name) for name in ("hotels", "review", "coast")),
        _html("mountain", charset="iso-8859-1", encoding="cp1252"),  # curly quotes: bytes 0x91-0x97
        *(_html(name) for name in ("sunset", "bats", "french", "german", "lorem")),
        (GONE_URL, GONE_URL, 404, HTML, b"<html><body><h1>Page not found</h1></body></html>\n"),
        (PDF_URL, PDF_URL, 200, ("Content-Type", "application/pdf"), _PDF),
        (OLD_SOUP_URL, OLD_SOUP_URL, 301, HTML, b'<html><body><a href="%s">Moved</a></body></html>\n'),
        (UNLINKED_URL, UNLINKED_URL, 200, HTML, b"<html><body><p>Is this a wren?</p></body></html>\n"),
    ]
    pages = []
    for i, (url, final_url, status, content_type, body) in enumerate(responses):
        fetched_at = float(CRAWLED + 60 * i)
        headers = [("Date", formatdate(fetched_at, usegmt=True)), SERVER, content_type]
        if status == 301:
            headers.append(("Location", ARTICLES["soup"].url))
            body = body % ARTICLES["soup"].url.encode()
        pages.append(Page(url, final_url, status, tuple(headers), body, fetched_at))
    return pages


def _html(name: str, *, text: str | None = None, asked_for: str = "", charset="utf-8", encoding="utf-8"):
    article = ARTICLES[name]
    body = render(article, text, charset).encode(encoding)
    return asked_for or article.url, article.url, 200, ("Content-Type", f"text/html; charset={charset}"), body


def _near_duplicate() -> str:
    text = (PAGES / f"{ARTICLES['school'].body}.html").read_text(encoding="utf-8")
    old, new = NEAR_DUPLICATE_EDIT
    assert old in text, "the edited paragraph must exist"
    return text.replace(old, new)


_PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"trailer << /Root 1 0 R >>\n%%EOF\n"
)


def write_common_crawl_response(writer: WARCWriter, url: str, body: bytes, date: str, coding: str = "gzip"):
    """A response as Common Crawl stored many: the payload as the server sent it, chunked and compressed.

    `coding` other than gzip labels `body` with that Content-Encoding without encoding it (no library
    writes LZW `compress`): a record no reader can decode.
    """
    encoded = gzip.compress(body, mtime=0) if coding == "gzip" else body
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in _parts(encoded, 1000)) + b"0\r\n\r\n"
    http = StatusAndHeaders(
        "200 OK",
        [
            ("Content-Type", "text/html; charset=UTF-8"),
            ("Content-Encoding", coding),
            ("Transfer-Encoding", "chunked"),
            ("Vary", "Accept-Encoding"),
        ],
        protocol="HTTP/1.1",
    )
    record = writer.create_warc_record(
        url,
        "response",
        payload=BytesIO(chunked),
        length=len(chunked),
        warc_headers_dict=_warc_fields("response", url, date),
        http_headers=http,
    )
    writer.write_record(record)


def _parts(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def _warc_fields(record_type: str, url: str, date: str) -> dict[str, str]:
    return {"WARC-Record-ID": f"<urn:uuid:{uuid5(NAMESPACE_URL, f'{record_type} {url}')}>", "WARC-Date": date}


def common_crawl_extract() -> bytes:
    """A Common Crawl style extract: request/response/metadata triples, a revisit, an undecodable
    response, and a last record cut in half (a download that died): samples/build/commoncrawl.warc.gz."""
    out = BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.0")
    info = writer.create_warcinfo_record(
        "commoncrawl.warc.gz", {"software": "make_sample.py", "isPartOf": "sample"}
    )
    info.rec_headers.replace_header("WARC-Record-ID", _warc_fields("warcinfo", "", "")["WARC-Record-ID"])
    info.rec_headers.replace_header("WARC-Date", "2017-12-16T09:00:00Z")
    writer.write_record(info)

    birds = ARTICLES["birds"]
    date = "2017-12-16T09:12:44Z"
    request = "GET /guides/birdwatching-for-beginners HTTP/1.1\r\nHost: fieldandfeather.example\r\n"
    request += "User-Agent: CCBot/2.0 (https://commoncrawl.org/faq/)\r\nAccept-Encoding: gzip\r\n\r\n"
    writer.write_record(
        writer.create_warc_record(
            birds.url,
            "request",
            payload=BytesIO(request.encode()),
            length=len(request.encode()),
            warc_headers_dict=_warc_fields("request", birds.url, date),
        )
    )
    write_common_crawl_response(writer, birds.url, render(birds).encode(), date)
    metadata = b"fetchTimeMs: 412\r\n"
    writer.write_record(
        writer.create_warc_record(
            birds.url,
            "metadata",
            payload=BytesIO(metadata),
            length=len(metadata),
            warc_headers_dict=_warc_fields("metadata", birds.url, date),
            warc_content_type="application/warc-fields",
        )
    )

    sourdough = ARTICLES["sourdough"]
    revisit = writer.create_revisit_record(
        sourdough.url,
        digest="sha1:5NN3GOLLKDEEG2YJFCQFJSMKE3JCI3UL",
        refers_to_uri=sourdough.url,
        refers_to_date="2017-11-07T10:00:00Z",
        warc_headers_dict=_warc_fields("revisit", sourdough.url, "2017-12-16T09:13:02Z"),
    )
    writer.write_record(revisit)
    write_common_crawl_response(
        writer, COMPRESS_URL, b"\x1f\x9d\x90 not really LZW", "2017-12-16T09:13:40Z", "compress"
    )

    complete = out.tell()
    owls = Article(TRUNCATED_URL, "birdwatching-beginners", "December sightings", "2017-12-01")
    write_common_crawl_response(writer, TRUNCATED_URL, render(owls).encode(), "2017-12-16T09:14:05Z")
    return out.getvalue()[: complete + (out.tell() - complete) // 2]


def sample_dumps() -> dict[str, list[str]]:
    """Pushshift-style monthly dumps, one JSON object a line, by file name."""
    a = ARTICLES
    return {
        "RS_2017-11.zst": [
            _line("7b1001", a["bridge"].url, 48, NOV + 1000, "news"),
            _line(
                "7b1002",
                a["bridge"].url + "?utm_source=reddit&amp;utm_medium=social",
                12,
                NOV + 2000,
                "Northfield",
            ),
            _line("7b1003", a["bridge_syndicated"].url, 9, NOV + 3000, "news"),
            _line("7b1004", a["library"].url + "#comments", 15, NOV + 4000, "Northfield"),
            _line("7b1005", SHORT_URL, 11, NOV + 5000, "Northfield"),
            _line(
                "7b1006",
                a["soup"].url + "?utm_source=reddit&amp;utm_campaign=soupweek",
                26,
                NOV + 6000,
                "recipes",
            ),
            _line("7b1007", OLD_SOUP_URL, 5, NOV + 7000, "EatCheapAndHealthy"),
            _line("7b1008", a["sourdough"].url, 31, NOV + 8000, "Breadit"),
            _line("7b1009", a["generators"].url, 120, str(NOV + 9000), "Python", score_field="ups"),
            _line("7b100a", a["sensor"].url, 19, str(NOV + 10000), "arduino", early=True, score_field="ups"),
            _line("7b100b", a["review"].url, 17, float(NOV + 11000) + 0.5, "books"),
            _line("7b100c", a["coast"].url, 6, NOV + 12000, "CampingandHiking"),
            _line(
                "7b100d",
                "https://www.reddit.com/r/AskHistorians/comments/7b100d/why_bridges/",
                88,
                NOV + 13000,
                "AskHistorians",
                is_self=True,
            ),
            _line(
                "7b100e",
                "http://www.reddit.com/r/Cooking/comments/7b100e/soup_tips/",
                14,
                NOV + 14000,
                "Cooking",
                early=True,
                is_self=True,
            ),
            _line("7b100f", "https://i.redd.it/x1y2z3bread.jpg", 230, NOV + 15000, "Breadit"),
            _line(
                "7b100g",
                "https://www.reddit.com/r/Northfield/comments/7a9999/bridge_reopening_thread/",
                7,
                NOV + 16000,
                "news",
            ),
            _line("7b100h", a["bats"].url, 1, NOV + 17000, "biology"),
            _line(
                "7b100i", "https://www.adultsonly.example/gallery/2017", 55, NOV + 18000, "nsfw", over_18=True
            ),
            _line(
                "7b100j",
                "https://en.wikipedia.org/wiki/Rayleigh_scattering",
                140,
                NOV + 19000,
                "todayilearned",
            ),
            _line("7b100k", "https://imgur.com/gallery/Ab12Cd3", 64, NOV + 20000, "pics"),
            '{"id": "7b100l", "url": "https://cookingwithmarta.example/", "score": 5, "created_utc": 15',
            json.dumps({"url": "https://wanderingnotes.example/", "score": 9, "created_utc": NOV + 22000}),
        ],
        "RS_2017-12.zst": [
            _line("7c2001", a["school"].url, 22, DEC + 1000, "education"),
            _line("7c2002", a["school_edited"].url, 7, DEC + 2000, "Northfield"),
            _line("7c2003", a["notice"].url, 4, DEC + 3000, "Northfield"),
            _line("7c2004", a["french"].url, 8, DEC + 4000, "france"),
            _line("7c2005", a["german"].url, 5, DEC + 5000, "de"),
            _line("7c2006", a["resources"].url, 10, DEC + 6000, "arduino"),
            _line("7c2007", a["hotels"].url, 3, DEC + 7000, "travel"),
            _line("7c2008", a["lorem"].url, 4, DEC + 8000, "web_design"),
            _line("7c2009", GONE_URL, 6, DEC + 9000, "Northfield"),
            _line("7c200a", PDF_URL, 13, DEC + 10000, "Northfield"),
            _line("7c200b", MISSING_URL, 9, DEC + 11000, "space"),
            _line("7c200c", a["sunset"].url, 75, DEC + 12000, "askscience"),
            _line(
                "7c200d",
                "https://WWW.ScienceCorner.example:443/2017/10/why-sunsets-are-red",
                20,
                DEC + 13000,
                "EarthPorn",
            ),
            _line("7c200e", a["bats"].url, 3, DEC + 14000, "biology"),
            _line("7c200f", a["mountain"].url, 14, DEC + 15000, "travel"),
            _line("7c200g", a["birds"].url, 27, DEC + 16000, "birding"),
            _line("7b1008", a["sourdough"].url, 40, NOV + 8000, "Breadit"),  # the same submission, rescored
            _line("7c200h", "https://www.youtube.com/watch?v=a1B2c3D4e5F", 310, DEC + 18000, "videos"),
            _line(
                "7c200i",
                "https://wanderingnotes.example/photos/val-sorella-peaks.jpg",
                45,
                DEC + 19000,
                "travel",
            ),
        ],
        "RS_2018-01.zst": [
            _line(
                "7d3001",
                "https://cookingwithmarta.example/recipes/winter-citrus-salad",
                19,
                JAN_2018 + 172800,
                "recipes",
            ),
            _line("7d3002", a["coast"].url, 8, JAN_2018, "CampingandHiking"),
        ],
    }


NOV = 1509494400  # 2017-11-01T00:00:00Z
DEC = 1512086400  # 2017-12-01T00:00:00Z
JAN_2018 = 1514764800  # 2018-01-01T00:00:00Z: the paper's cut-off, exclusive


def _line(
    id_, url, score, created, subreddit, *, early=False, is_self=False, over_18=False, score_field="score"
):
    """One submission as Pushshift wrote it. Early dumps have no is_self or over_18 (a self post's domain
    says "self.<subreddit>") and some count "ups" instead of "score"."""
    record = {"id": id_, "subreddit": subreddit, "title": f"Submission {id_}", "url": url}
    record["domain"] = f"self.{subreddit}" if is_self else url.split("/")[2]
    record[score_field] = score
    record["created_utc"] = created
    if not early:
        record.update(is_self=is_self, over_18=over_18)
    return json.dumps(record)


def sample_submissions() -> list[str]:
    """Every line of every dump, in file order."""
    return [line for lines in sample_dumps().values() for line in lines]


def write_sample(directory: Path) -> list[Path]:
    """Writes the dumps and the two WARC files into `directory`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    for name, lines in sample_dumps().items():
        written.append(directory / name)
        written[-1].write_bytes(compressor.compress(("\n".join(lines) + "\n").encode()))
    with open(directory / "pages.warc.gz", "wb") as stream:
        writer = WarcPageWriter(stream)
        for page in sample_pages():
            writer.write(page)
    written.append(directory / "pages.warc.gz")
    written.append(directory / "commoncrawl.warc.gz")
    written[-1].write_bytes(common_crawl_extract())
    return written


def main() -> None:
    for path in write_sample(BUILD):
        print(path)


if __name__ == "__main__":
    main()
