"""The PostgreSQL store's schema: migrations in step with store/db.py's SQLite ones.

``MIGRATIONS[n]`` brings a database to version ``n + 1``, meaning the same tables and columns
as SQLite's version ``n + 1`` (a test holds the two lists to the same length and the same
columns). Migrations are additive so that hosts of the previous release keep serving while a
deploy rolls: a store newer than this newsbot is used as it is unless the newer release marked
it incompatible (``schema.readers_from`` in ``meta``, as on SQLite). The search index is the
engine's own: per-story weighted word counts (``search_terms``) and the collection's totals
(``search_stats``), kept by triggers on ``search_docs`` as FTS5 keeps its index.
"""

from __future__ import annotations

import logging
from typing import Any

from store.db import READERS_KEY, StoreError, now_iso, readers_from
from store.search_pg import MATCH_BYTES

log = logging.getLogger("newsbot.store")

PRIMARY_KEYS: dict[str, tuple[str, ...]] = {
    "articles": ("id",),
    "subscribers": ("openid",),
    "digests": ("id",),
    "push_log": ("digest_id", "openid"),
    "audit": ("id",),
    "admins": ("openid",),
    "query_log": ("id",),
    "meta": ("key",),
    "search_docs": ("article_id",),
    "search_top": ("term", "article_id"),
    "search_hot": ("term",),
    "search_terms": ("term", "article_id"),
    "search_stats": ("id",),
    "search_match": ("article_id",),
    "schema_version": ("version",),
    "reply_rules": ("id",),
    "images": ("id",),
}
GENERATED_IDS = frozenset({"articles", "digests", "audit", "query_log", "reply_rules", "images"})

_V1 = """
CREATE TABLE articles (
    id BIGSERIAL PRIMARY KEY, title TEXT NOT NULL, subtitle TEXT, kicker TEXT,
    authors TEXT DEFAULT '[]', body TEXT DEFAULT '[]', captions TEXT DEFAULT '[]',
    categories TEXT DEFAULT '[]', category_override TEXT, source TEXT, url TEXT, picurl TEXT,
    published TEXT, added_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    content_hash TEXT NOT NULL, story_key TEXT, summary TEXT, summary_long TEXT);
CREATE UNIQUE INDEX idx_articles_content_hash ON articles (content_hash);
CREATE INDEX idx_articles_story_key ON articles (story_key);
CREATE INDEX idx_articles_added_at ON articles (added_at);
CREATE TABLE subscribers (
    openid TEXT PRIMARY KEY, categories TEXT DEFAULT '[]', following BIGINT DEFAULT 1,
    subscribed_at TEXT, updated_at TEXT, last_seen DOUBLE PRECISION);
CREATE TABLE digests (
    id BIGSERIAL PRIMARY KEY, started_at TEXT, finished_at TEXT, status TEXT, channel TEXT,
    since TEXT, article_ids TEXT, report TEXT);
CREATE TABLE push_log (
    digest_id BIGINT, openid TEXT, status TEXT, reason TEXT, at TEXT,
    PRIMARY KEY (digest_id, openid));
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY, at TEXT, admin TEXT, action TEXT, article_id BIGINT,
    before TEXT, after TEXT);
CREATE TABLE admins (openid TEXT PRIMARY KEY, added_at TEXT, added_by TEXT);
CREATE TABLE query_log (id BIGSERIAL PRIMARY KEY, at TEXT, "user" TEXT, query TEXT, hits BIGINT);
CREATE INDEX idx_query_log_at ON query_log (at);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
"""

_DIGEST_PUSH_LOG = """
ALTER TABLE digests ADD COLUMN slot TEXT;
CREATE UNIQUE INDEX idx_digests_slot ON digests (slot) WHERE slot IS NOT NULL;
ALTER TABLE push_log ADD COLUMN categories TEXT;
ALTER TABLE push_log ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE push_log ADD COLUMN clientmsgid TEXT;
CREATE INDEX idx_push_log_digest_id_status ON push_log (digest_id, status);
"""

# FTS5 splits the pre-cut columns on spaces and folds case; the weights are search_bm25's
_SEARCH_INDEX = """
CREATE TABLE search_docs (
    article_id BIGINT PRIMARY KEY, title TEXT, body TEXT, names TEXT, name_words TEXT,
    length BIGINT);
CREATE TABLE search_terms (
    term TEXT NOT NULL, article_id BIGINT NOT NULL, f DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (term, article_id));
CREATE INDEX idx_search_terms_article_id ON search_terms (article_id);
CREATE TABLE search_stats (id INT PRIMARY KEY, nrow BIGINT NOT NULL, total BIGINT NOT NULL);
INSERT INTO search_stats VALUES (1, 0, 0);
CREATE FUNCTION newsbot_search_terms() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    DELETE FROM search_terms WHERE article_id = OLD.article_id;
    UPDATE search_stats SET nrow = nrow - 1, total = total - COALESCE(OLD.length, 0)
      WHERE id = 1;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO search_terms (term, article_id, f)
    SELECT t, NEW.article_id, sum(w) FROM (
      SELECT lower(t) AS t, 10.0::float8 AS w
        FROM regexp_split_to_table(COALESCE(NEW.title, ''), '\\s+') t
      UNION ALL SELECT lower(t), 1.0 FROM regexp_split_to_table(COALESCE(NEW.body, ''), '\\s+') t
      UNION ALL SELECT lower(t), 4.0 FROM regexp_split_to_table(COALESCE(NEW.names, ''), '\\s+') t
    ) x WHERE t <> '' GROUP BY t;
    UPDATE search_stats SET nrow = nrow + 1, total = total + COALESCE(NEW.length, 0)
      WHERE id = 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER search_docs_terms AFTER INSERT OR UPDATE OR DELETE ON search_docs
  FOR EACH ROW EXECUTE FUNCTION newsbot_search_terms();
"""

_SEARCH_TOP_LISTS = """
CREATE TABLE search_top (
    term TEXT, article_id BIGINT, f DOUBLE PRECISION, dl BIGINT, impact DOUBLE PRECISION,
    PRIMARY KEY (term, article_id));
CREATE INDEX idx_search_top_term_impact ON search_top (term, impact);
CREATE INDEX idx_search_top_article_id ON search_top (article_id);
CREATE TABLE search_hot (
    term TEXT PRIMARY KEY, gen BIGINT, avgdl DOUBLE PRECISION, floor DOUBLE PRECISION,
    size BIGINT);
"""

_SEARCH_DOC_FREQ = """
ALTER TABLE search_hot ADD COLUMN df BIGINT NOT NULL DEFAULT 0;
"""

_ARTICLES_GENERATION = """
INSERT INTO meta (key, value) VALUES ('articles.generation', '0')
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
CREATE FUNCTION newsbot_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE meta SET value = (CAST(value AS BIGINT) + 1)::text WHERE key = 'articles.generation';
  RETURN NULL;
END $$;
CREATE TRIGGER articles_generation AFTER INSERT OR UPDATE OR DELETE ON articles
  FOR EACH ROW EXECUTE FUNCTION newsbot_generation();
CREATE TRIGGER articles_generation_reindex AFTER INSERT OR UPDATE ON meta
  FOR EACH ROW WHEN (NEW.key = 'search.dictionary') EXECUTE FUNCTION newsbot_generation();
"""

_REPLY_RULES = """
CREATE TABLE reply_rules (
    id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, name TEXT, reply_mode TEXT DEFAULT 'all',
    keywords TEXT NOT NULL DEFAULT '[]', replies TEXT NOT NULL DEFAULT '[]', menu_key TEXT,
    origin TEXT, added_at TEXT NOT NULL);
CREATE INDEX idx_reply_rules_kind ON reply_rules (kind);
INSERT INTO meta (key, value) VALUES ('rules.generation', '0');
"""

_EDITORS_WORK = """
ALTER TABLE articles ADD COLUMN edited TEXT NOT NULL DEFAULT '[]';
CREATE INDEX idx_articles_source ON articles (source);
CREATE INDEX idx_articles_url ON articles (url);
CREATE TABLE images (
    id BIGSERIAL PRIMARY KEY, article_id BIGINT, content_type TEXT NOT NULL,
    data BYTEA NOT NULL, sha256 TEXT NOT NULL, added_at TEXT NOT NULL);
CREATE INDEX idx_images_article ON images (article_id);
"""

_PUBLICATION = "ALTER TABLE articles ADD COLUMN publication TEXT NOT NULL DEFAULT '';"

# Which stories hold which words, for matching several words at once: a GIN index over each
# story's distinct words intersects and unites posting lists (``search_terms``' primary key
# would walk every row of a common word to find the few stories it shares with another).
# Kept by its own trigger, so hosts of the previous release keep it true as they write.
# Words past MATCH_BYTES stay out (a GIN key must fit in a page); store/search_pg.py matches
# them from search_terms. Matches are read through functions that leave the planner only the
# index: it prices a scan of the table without the cost of unpacking every story's words, and
# with a LIMIT it would scan them all when few or none match.
_SEARCH_MATCH = """
CREATE TABLE search_match (article_id BIGINT PRIMARY KEY, words tsvector NOT NULL);
CREATE FUNCTION newsbot_words(title TEXT, body TEXT, names TEXT) RETURNS tsvector
  LANGUAGE sql IMMUTABLE AS $$
  SELECT array_to_tsvector(ARRAY(
    SELECT DISTINCT lower(t) FROM regexp_split_to_table(
      COALESCE(title, '') || ' ' || COALESCE(body, '') || ' ' || COALESCE(names, ''), '\\s+') t
    WHERE t <> '' AND octet_length(t) <= MATCH_BYTES))
$$;
CREATE FUNCTION newsbot_search_match() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM search_match WHERE article_id = OLD.article_id;
  ELSE
    INSERT INTO search_match VALUES (NEW.article_id, newsbot_words(NEW.title, NEW.body, NEW.names))
      ON CONFLICT (article_id) DO UPDATE SET words = excluded.words;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER search_docs_match AFTER INSERT OR UPDATE OR DELETE ON search_docs
  FOR EACH ROW EXECUTE FUNCTION newsbot_search_match();
INSERT INTO search_match
  SELECT article_id, newsbot_words(title, body, names) FROM search_docs;
CREATE INDEX idx_search_match_words ON search_match USING gin (words);
CREATE FUNCTION newsbot_match(q tsquery) RETURNS SETOF bigint LANGUAGE sql STABLE
  SET enable_seqscan = off SET enable_indexscan = off
  AS $$ SELECT article_id FROM search_match WHERE words @@ q $$;
CREATE FUNCTION newsbot_match_count(q tsquery, cap bigint) RETURNS bigint LANGUAGE sql STABLE
  SET enable_seqscan = off SET enable_indexscan = off
  AS $$ SELECT count(*) FROM (SELECT 1 FROM search_match WHERE words @@ q LIMIT cap) m $$;
""".replace("MATCH_BYTES", str(MATCH_BYTES))

MIGRATIONS: list[str] = [
    _V1, _DIGEST_PUSH_LOG, _SEARCH_INDEX, _SEARCH_TOP_LISTS, _SEARCH_DOC_FREQ,
    _ARTICLES_GENERATION, _REPLY_RULES, _EDITORS_WORK, _PUBLICATION,
    _SEARCH_MATCH,
]
_MIGRATE_LOCK = 0x6D696772  # one host migrates; the others wait, then find it done


def _version(conn: Any) -> int:
    row = conn.execute("SELECT to_regclass('schema_version')").fetchone()
    if row[0] is None:
        return 0
    return int(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version")
               .fetchone()[0])


def _check_newer(conn: Any, current: int, target: int, where: str) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = %s", (READERS_KEY,)).fetchone()
    oldest = int(row[0]) if row and str(row[0]).isdigit() else current
    if oldest > target:
        raise StoreError(
            f"{where} has schema version {current}, newer than this newsbot understands"
            f" ({target}); upgrade newsbot to open it"
        )
    log.info("store %s: schema %d is newer than this newsbot's %d; serving on it",
             where, current, target)


def migrate(conn: Any, where: str) -> int:
    """Bring the database on ``conn`` (autocommit) to the newest schema; returns the version."""
    target = len(MIGRATIONS)
    current = _version(conn)
    if current > target:
        _check_newer(conn, current, target, where)
        return current
    if current == target:
        return current
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATE_LOCK,))
        current = _version(conn)  # another host may have migrated meanwhile
        if current >= target:
            return current
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version"
                     " (version BIGINT PRIMARY KEY, applied_at TEXT)")
        for version in range(current + 1, target + 1):
            conn.execute(MIGRATIONS[version - 1])
            conn.execute("INSERT INTO schema_version VALUES (%s, %s)", (version, now_iso()))
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (READERS_KEY, str(readers_from(target))),
        )
    return target
