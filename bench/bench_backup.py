"""`glowops backup run` against plain `pg_dump -Fc` on the same generated database, then a
restore drill (`glowops backup verify`) whose measured restore time is the RTO.

- The database (default 1 GiB, ``--size-mb`` or ``BENCH_BACKUP_SIZE_MB``) is generated once as
  ``glowops_bench_backup_<size>`` and kept for later runs (``--drop`` removes it afterwards).
- Rounds alternate pg_dump and glowops (pg_dump, glowops, pg_dump, ...); the median is reported.
- glowops runs as the real command (a subprocess): row counts in the dump's snapshot, sha256
  while streaming, atomic manifest included. pg_dump writes its archive to a file with ``-f``.

Run: ``python -m bench.bench_backup --size-mb 200 --rounds 3``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
GLOWOPS = str(Path(sys.executable).with_name("glowops"))

TABLES = """
CREATE TABLE IF NOT EXISTS events (id bigserial PRIMARY KEY, org_id int NOT NULL, kind text NOT NULL,
    created timestamptz NOT NULL, payload jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS documents (id bigserial PRIMARY KEY, org_id int NOT NULL, title text NOT NULL,
    body text NOT NULL, checksum bytea NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (id bigserial PRIMARY KEY, account int NOT NULL,
    amount numeric(14,2) NOT NULL, booked date NOT NULL, memo text);
"""

# One batch: about 60 MB of mixed rows (json events, text documents, numeric ledger lines).
BATCH = """
INSERT INTO events (org_id, kind, created, payload)
  SELECT g % 97, (ARRAY['upload','extract','approve','login'])[1 + g % 4], now() - g * interval '1 second',
         jsonb_build_object('request_id', md5(g::text), 'ms', g % 1000, 'path', '/api/v1/items/' || g)
  FROM generate_series($1::bigint, $1::bigint + 99999) g;
INSERT INTO documents (org_id, title, body, checksum)
  SELECT g % 97, 'Invoice ' || g, repeat(md5(g::text) || ' ', 12) || md5((g * 7)::text),
         decode(md5((g * 3)::text), 'hex')
  FROM generate_series($1::bigint, $1::bigint + 59999) g;
INSERT INTO ledger (account, amount, booked, memo)
  SELECT g % 5000, (g % 100000) / 100.0, date '2020-01-01' + (g % 2000)::int,
         CASE WHEN g % 3 = 0 THEN md5(g::text) END
  FROM generate_series($1::bigint, $1::bigint + 149999) g;
"""


async def ensure_database(name: str, size_mb: int) -> int:
    admin = await asyncpg.connect(ADMIN)
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}")
    try:
        await conn.execute(TABLES)
        start = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM events")) + 1
        size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
        while size < size_mb * 1024 * 1024:
            for statement in filter(str.strip, BATCH.split(";")):
                await conn.execute(statement, start)
            start += 150_000
            size = int(await conn.fetchval("SELECT pg_database_size(current_database())"))
            print(f"  generated {size / 1048576:.0f} MiB", flush=True)
        await conn.execute("VACUUM ANALYZE")
        return int(await conn.fetchval("SELECT pg_database_size(current_database())"))
    finally:
        await conn.close()


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def in_process(url: str, store_dir: Path) -> float:
    """The backup itself (snapshot, counts, pg_dump, sha256, manifest), without CLI start-up."""
    from glowops.backup.runner import RunOptions, run_backup
    from glowops.backup.store import LocalStore
    from glowops.settings import Settings

    settings = Settings(backup_dir=store_dir)
    start = time.perf_counter()
    options = RunOptions(database_url=url, show_progress=False)
    asyncio.run(run_backup(settings, LocalStore(store_dir), options))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=int(os.environ.get("BENCH_BACKUP_SIZE_MB", "1024")))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--drop", action="store_true", help="Drop the generated database afterwards.")
    args = parser.parse_args(argv)
    name = f"glowops_bench_backup_{args.size_mb}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    print(f"database {name}: generating up to {args.size_mb} MiB (reused when present)", flush=True)
    db_bytes = asyncio.run(ensure_database(name, args.size_mb))
    work = Path(tempfile.mkdtemp(prefix="bench-backup-", dir=os.environ.get("BENCH_TMP", "/tmp")))
    env = {**os.environ, "GLOWOPS_BACKUP_DIR": str(work / "store"), "GLOWOPS_STATE_DIR": str(work / "var")}
    env.pop("GLOWOPS_BACKUP_S3_BUCKET", None)
    env.pop("GLOWOPS_BACKUP_ENCRYPTION_KEY", None)
    plain: list[float] = []
    ours: list[float] = []
    inproc: list[float] = []
    startup = timed([GLOWOPS, "backup", "--help"], env)
    try:
        for n in range(args.rounds):
            plain.append(timed(["pg_dump", "-Fc", "-f", str(work / "plain.pgc"), f"--dbname={url}"]))
            plain_size = (work / "plain.pgc").stat().st_size
            (work / "plain.pgc").unlink()
            ours.append(timed([GLOWOPS, "backup", "run", "--database-url", url, "--quiet"], env))
            inproc.append(in_process(url, work / "inproc"))
            shutil.rmtree(work / "inproc")
            print(
                f"  round {n + 1}: pg_dump -Fc {plain[-1]:.1f} s, `glowops backup run` {ours[-1]:.1f} s, "
                f"run_backup() in-process {inproc[-1]:.1f} s",
                flush=True,
            )
        manifests = sorted((work / "store").glob("*/manifest.json"))
        last = json.loads(manifests[-1].read_text())
        for extra in manifests[:-1]:
            shutil.rmtree(extra.parent)
        verify = [GLOWOPS, "backup", "verify", last["id"], "--drill-url", ADMIN, "--quiet"]
        verify_seconds = timed(verify, env)
        report = json.loads((manifests[-1].parent / "drill-report.json").read_text())
        p, o, i = statistics.median(plain), statistics.median(ours), statistics.median(inproc)
        print(
            f"\ndatabase: {db_bytes / 1048576:.0f} MiB, {sum(last['tables'].values()):,} rows in "
            f"{len(last['tables'])} tables"
        )
        print(f"pg_dump -Fc (median of {args.rounds}): {p:.1f} s, archive {plain_size / 1048576:.0f} MiB")
        print(
            f"glowops backup run (median of {args.rounds}): {o:.1f} s, archive "
            f"{last['size_bytes'] / 1048576:.0f} MiB -> speed {p / o:.2f}x pg_dump's"
        )
        print(f"run_backup() in-process (median): {i:.1f} s -> speed {p / i:.2f}x pg_dump's")
        print(f"CLI start-up (`glowops backup --help`): {startup:.1f} s")
        print(f"verify (checksum + TOC + drill + pg_amcheck): {verify_seconds:.1f} s, ok={report['ok']}")
        print(f"measured restore time (RTO): {report['restore_seconds']:.1f} s")
        for check in report["checks"]:
            print(f"  {check['name']}: {check['seconds']:.1f} s  {check['detail']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.drop:
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", name], check=False)


if __name__ == "__main__":
    main()
