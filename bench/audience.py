"""Audience benchmark: CSV import and export at scale, and the panel's subscriber search.

Generates a CSV file of N rows (default 1,000,000; a few in a thousand are bad or repeated),
then on each database: imports it with ``tocsin subscribers import`` in a child process
(its peak RSS is the child's), exports every subscriber of the list in-process, and times
the panel's own subscriber search (``subscribers.search``) on that audience: address prefix,
name search as people type it (a first name's first letters, or a first name and the start
of a surname), part of a name from its middle ("oval", "a Nov"; and "kyiv", which nobody's
name holds, so the index has to say "nobody" without a scan), and a list page filtered by
language, 50 a page, first and next keyset pages.
Each database's run ends with one line:

    <database>: import_rows_per_s: A  export_rows_per_s: B  search_p95_ms: C  import_peak_rss_mb: D

    python -m bench.audience --quick                 # 50,000 rows, SQLite and PostgreSQL
    python -m bench.audience                         # 1,000,000 rows
    python -m bench.audience --only sqlite --rows 200000
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/benchaudience"
FIRST = [
    "Olena",
    "Anna",
    "Maria",
    "Jan",
    "Ivan",
    "Sofia",
    "Lucas",
    "Ahmed",
    "Nino",
    "Pedro",
    "Ewa",
    "Taras",
    "Lea",
    "Omar",
    "Ines",
]
LAST = [
    "Kovalenko",
    "Nowak",
    "Garcia",
    "Silva",
    "Dubois",
    "Muller",
    "Rossi",
    "Novak",
    "Beridze",
    "Haddad",
    "Melnyk",
]
LANGUAGES = ["en", "uk", "es", "fr", "de", "pl", "pt-BR", "it", "ar", "cs", "ka"]
COUNTRIES = ["UA", "PL", "ES", "FR", "DE", "BR", "IT", "GE", "CZ", "LB"]
DOMAINS = ["example.org", "mail.example.net", "post.example.com", "riseup.example", "kolektiv.cz"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write the CSV file, streamed; about 3 rows in 1,000 are bad or repeated."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["email", "name", "language", "country", "city"])
        for n in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{n}@{rng.choice(DOMAINS)}".lower()
            if n % 1000 == 1:
                email = email.replace("@", "")  # bad address
            elif n % 1000 == 2:
                email = f"{FIRST[0]}.{LAST[0]}.0@{DOMAINS[0]}".lower()  # repeated
            out.writerow(
                [email, f"{first} {last}", rng.choice(LANGUAGES), rng.choice(COUNTRIES), "Kyiv"]
            )


def configure(directory: Path, database_url: str) -> dict[str, str]:
    """The environment of every process of one database's run."""
    environ = os.environ.copy()
    environ.update(
        {
            "TOCSIN_DATA_DIR": str(directory),
            "TOCSIN_DATABASE_URL": database_url,
            "TOCSIN_BROKER_URL": f"sqla+sqlite:///{directory / 'broker.db'}",
            "TOCSIN_SECRET_KEY": "benchmark-secret-key-benchmark-secret-key",
        }
    )
    return environ


def tocsin(environ: dict[str, str], *args: str) -> tuple[float, float]:
    """Run ``tocsin ARGS`` in a child; return (seconds, peak RSS in MB) of that child."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "app", *args], env=environ)
    _pid, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"tocsin {' '.join(args)} failed")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def reset_postgres(url: str) -> None:
    """Create the benchmark database if needed and empty it."""
    from sqlalchemy import create_engine, text

    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        name = url.rsplit("/", 1)[1]
        if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def search_page(kind: str, prefix: str, after: str | None = None):  # noqa: ANN201
    """One page (50) of the panel's own subscriber search, ``subscribers.search``.

    ``email``: address prefix, keyset on the address. ``name`` and ``contains``: part of a
    name (or of a group's name), keyset on the id. ``filtered``: no prefix, a language
    filter on the benchmark list, keyset on the address: the page an organiser opens from a
    list."""
    from app.audience.filters import SubscriberFilter
    from app.audience.subscribers import search

    if kind == "filtered":
        from app.audience.lists import get_by_slug

        chosen = SubscriberFilter(list_id=get_by_slug("bench").id, language=prefix)
    else:
        chosen = SubscriberFilter(query=prefix, by="email" if kind == "email" else "name")
    return search(chosen, after=after, limit=50)


KINDS = ("email", "name", "contains", "filtered")
RARE = ["kyiv", "Solidarity", "zzq"]  # in nobody's name


def inside_a_name(rng: random.Random) -> str:
    """Three to five characters from inside a name, now and then one that matches nobody."""
    if rng.random() < 0.1:
        return rng.choice(RARE)
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    start = rng.randint(1, len(name) - 3)
    return name[start : start + rng.randint(3, 5)].strip() or name[1:4]


def time_search(samples: int, kinds: tuple[str, ...] = KINDS, seed: int = 11) -> float:
    """p95 in ms over first and next pages of random prefixes and filters."""
    rng = random.Random(seed)
    timings = []
    for number in range(samples):
        kind = kinds[number % len(kinds)]
        word = rng.choice(FIRST)
        if kind == "email":
            prefix = word.lower()[: rng.randint(1, 4)]
        elif kind == "filtered":
            prefix = rng.choice(LANGUAGES)
        elif kind == "contains":
            prefix = inside_a_name(rng)
        else:
            prefix = word[: rng.randint(1, 4)]
            if rng.random() < 0.5:
                prefix = f"{word} {rng.choice(LAST)[:2]}"
        started = time.perf_counter()
        page = search_page(kind, prefix)
        timings.append(time.perf_counter() - started)
        if page.after:
            started = time.perf_counter()
            search_page(kind, prefix, page.after)
            timings.append(time.perf_counter() - started)
    return statistics.quantiles(timings, n=20)[-1] * 1000


def search_detail(samples: int) -> str:
    """p95 of each kind of search on its own."""
    return "  ".join(f"{kind}: {time_search(samples // 2, (kind,)):.1f} ms" for kind in KINDS)


def measure(name: str, database_url: str, source: Path, rows: int, samples: int) -> str:
    """Import, export and search on one database; return its result line."""
    directory = Path(tempfile.mkdtemp(prefix=f"tocsin-audience-{name}-"))
    environ = configure(directory, database_url)
    if database_url.startswith("postgresql"):
        reset_postgres(database_url)
    tocsin(environ, "db", "upgrade")
    tocsin(environ, "lists", "create", "bench", "--name", "Benchmark")
    print(f"[{name}] importing {rows:,} rows …", flush=True)
    _seconds, rss = tocsin(
        environ,
        "subscribers",
        "import",
        str(source),
        "--list",
        "bench",
        "--map",
        "city=attribute:city",
    )
    os.environ.update(environ)
    from app import create_app
    from app.audience import exports
    from app.extensions import db
    from app.models import ImportJob

    app = create_app()
    with app.app_context():
        job = db.session.query(ImportJob).one()
        import_rate = job.processed_rows / (job.finished_at - job.started_at).total_seconds()
        print(f"[{name}] {imports_summary(job)}", flush=True)
        started, count = time.perf_counter(), 0
        with open(os.devnull, "w", encoding="utf-8") as sink:
            for piece in exports.stream(exports.check_filter("bench")):
                sink.write(piece)
                count += piece.count("\n")
        export_rate = (count - 1) / (time.perf_counter() - started)
        if db.engine.dialect.name == "postgresql":
            db.session.execute(db.text("ANALYZE"))
            db.session.commit()
        search_p95 = time_search(samples)
        print(f"[{name}] search p95 by kind: {search_detail(samples)}", flush=True)
        db.session.remove()
        db.engine.dispose()
    return (
        f"{name}: import_rows_per_s: {import_rate:,.0f}  export_rows_per_s: {export_rate:,.0f}  "
        f"search_p95_ms: {search_p95:.1f}  import_peak_rss_mb: {rss:.0f}"
    )


def imports_summary(job) -> str:  # noqa: ANN001
    return (
        f"import: {job.imported:,} imported, {job.updated:,} updated, {job.skipped:,} unchanged, "
        f"{job.rejected:,} rejected in {(job.finished_at - job.started_at).total_seconds():.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres-url", default=PG_URL)
    parser.add_argument("--searches", type=int, default=400)
    parser.add_argument(
        "--search-only", metavar="DATABASE_URL", help="only time the search on a filled database"
    )
    args = parser.parse_args(argv)
    if args.search_only:
        return search_only(args.search_only, args.searches)
    rows = 50_000 if args.quick else args.rows
    directory = Path(tempfile.mkdtemp(prefix="tocsin-audience-"))
    source = directory / "audience.csv"
    generate(source, rows)
    print(f"generated {rows:,} rows, {source.stat().st_size / 1e6:.0f} MB", flush=True)
    databases = {
        "sqlite": f"sqlite:///{directory / 'audience.db'}",
        "postgresql": args.postgres_url,
    }
    lines = []
    for name, url in databases.items():
        if args.only in (None, name):
            # A child per database: each gets a fresh app, engine and module state.
            lines.append(measure_in_child(name, url, source, rows, args.searches))
    print("\n".join(lines))
    return 0


def search_only(url: str, samples: int) -> int:
    """Time the search on a database a previous run filled."""
    os.environ.update(configure(Path(tempfile.mkdtemp(prefix="tocsin-audience-")), url))
    from app import create_app

    with create_app().app_context():
        print(f"search_p95_ms: {time_search(samples):.1f}  by kind: {search_detail(samples)}")
    return 0


def measure_in_child(name: str, url: str, source: Path, rows: int, samples: int) -> str:
    """Run ``measure`` in a fresh interpreter and return its result line."""
    code = (
        "import sys; from bench.audience import measure; "
        f"print(measure({name!r}, {url!r}, __import__('pathlib').Path({str(source)!r}), "
        f"{rows}, {samples}))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        capture_output=False,
        text=True,
        stdout=subprocess.PIPE,
    ).stdout
    sys.stdout.write("".join(line + "\n" for line in output.splitlines()[:-1]))
    return output.splitlines()[-1]


if __name__ == "__main__":
    sys.exit(main())
