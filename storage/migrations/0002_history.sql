-- Schema version 2: the uptime history, opaque records by key.
--
-- Batches delete key ranges (PruneHistory). Keys may be too long for a
-- B-tree entry, so the range index holds their first 512 bytes: a key in
-- [from, to) has its prefix in [prefix(from), prefix(to)], which the index
-- finds, and the exact bounds are checked on the rows. The store's prune
-- statement repeats this expression word for word, or the index goes
-- unused.
CREATE TABLE vigil_history (
    key bytea NOT NULL,
    digest bytea GENERATED ALWAYS AS (sha256(key)) STORED PRIMARY KEY,
    value bytea NOT NULL
);

CREATE INDEX vigil_history_key_prefix ON vigil_history (substring(key FROM 1 FOR 512));
