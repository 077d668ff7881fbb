-- Schema version 1: announcements, replicas, the alerting state and the
-- outbox (see storage/postgres.go for what the store guarantees).
--
-- Keys are bytea: ids may hold any byte (NUL, invalid UTF-8), and the store
-- accepts keys as long as the embedded store does (32 KiB), longer than a
-- B-tree index entry can be (about 2.7 KB). So each table is keyed by a
-- SHA-256 digest of its key, computed by the database (a generated
-- column), and the key itself is kept readable beside it. Values are the
-- JSON documents the embedded store keeps, byte for byte.

-- An announcement: Seq orders publication (a uint64, hence numeric), and
-- its ID is unique.
CREATE TABLE vigil_announcements (
    seq numeric(20, 0) PRIMARY KEY CHECK (seq BETWEEN 0 AND 18446744073709551615),
    id bytea NOT NULL,
    id_digest bytea GENERATED ALWAYS AS (sha256(id)) STORED NOT NULL UNIQUE,
    value json NOT NULL
);

-- The digest of a replica key: each of probe and node prefixed with its
-- length, so that ("a:b", "c") and ("a", "b:c") differ.
CREATE FUNCTION vigil_replica_digest(probe bytea, node bytea, replica bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT sha256(int4send(length(probe)) || probe || int4send(length(node)) || node || replica) $$;

-- The last known state of each replica, keyed by (probe, node, replica).
CREATE TABLE vigil_replicas (
    probe bytea NOT NULL,
    node bytea NOT NULL,
    replica bytea NOT NULL,
    digest bytea GENERATED ALWAYS AS (vigil_replica_digest(probe, node, replica)) STORED PRIMARY KEY,
    value json NOT NULL
);

-- The page-wide alerting state: at most one row.
CREATE TABLE vigil_alerting (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    value json NOT NULL
);

-- The newest undelivered notification of each notifier kind.
CREATE TABLE vigil_outbox (
    notifier bytea NOT NULL,
    digest bytea GENERATED ALWAYS AS (sha256(notifier)) STORED PRIMARY KEY,
    value json NOT NULL
);
