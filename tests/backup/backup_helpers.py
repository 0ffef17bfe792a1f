"""Helpers of the backup tests: a schema with data, fingerprints that compare databases the way a
user would (row counts and content checksums), the CLI runner."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable
from pathlib import Path

import asyncpg
from click.testing import CliRunner

from glowops.cli import app

Keys = Callable[[], list[str]]  # lists the keys of the test bucket

SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL UNIQUE, created timestamptz NOT NULL);
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int REFERENCES customers(id), amount numeric(12,2),
                     note text, payload jsonb);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE SCHEMA "Ledger";
CREATE TABLE "Ledger"."Entry Lines" (id int PRIMARY KEY, blob bytea, flag boolean);
CREATE TABLE empty_table (id int);
INSERT INTO customers (email, created)
  SELECT 'user' || g || '@example.com', '2024-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 3000) g;
INSERT INTO orders (customer_id, amount, note, payload)
  SELECT 1 + g % 3000, (g * 1.37)::numeric(12,2), CASE WHEN g % 7 = 0 THEN NULL ELSE md5(g::text) END,
         jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 5))
  FROM generate_series(1, 8000) g;
INSERT INTO "Ledger"."Entry Lines"
  SELECT g, decode(md5(g::text), 'hex'), g % 2 = 0 FROM generate_series(1, 1500) g;
"""

EXPECTED_COUNTS = {
    "public.customers": 3000,
    "public.orders": 8000,
    "Ledger.Entry Lines": 1500,
    "public.empty_table": 0,
}


def run_sql(url: str, sql: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def table_fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """(row count, md5 of every row's text in sorted order) per user table."""

    async def go() -> dict[str, tuple[int, str]]:
        conn = await asyncpg.connect(url)
        try:
            tables = await conn.fetch(
                "SELECT format('%I.%I', table_schema, table_name) AS q, "
                "table_schema || '.' || table_name AS n FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' "
                "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 2"
            )
            out = {}
            for row in tables:
                count, digest = await conn.fetchrow(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f"FROM {row['q']} t"
                )
                out[row["n"]] = (count, digest)
            return out
        finally:
            await conn.close()

    return asyncio.run(go())


def invoke(runner: CliRunner, *args: str, input: str | None = None) -> tuple[int, str]:
    """Run ``glowops backup ...``; (exit code, stdout+stderr)."""
    result = runner.invoke(app, ["backup", *args], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def manifests(backups: Path) -> list[dict]:
    import json

    return [json.loads(p.read_text()) for p in sorted(backups.glob("*/manifest.json"))]
