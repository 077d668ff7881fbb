-- Schema version 3: several server instances on one database (see
-- storage/postgres_fence.go and package cluster).
--
-- The leader lease: one row. An instance leads while it holds the row
-- (holder = its identity) and the lease has not expired; each takeover
-- bumps epoch, the fencing token that every write of the leader checks
-- (vigil_fence). Times are the database server's clock, the one clock
-- every instance shares.
CREATE TABLE vigil_leader (
    id integer PRIMARY KEY CHECK (id = 1),
    holder text NOT NULL DEFAULT '',
    epoch bigint NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL DEFAULT '-infinity'
);
INSERT INTO vigil_leader (id) VALUES (1);

-- vigil_fence fails (SQLSTATE VF001) unless holder h, at epoch e, holds an
-- unexpired lease, and otherwise share-locks the lease row until the end of
-- the calling transaction: the row cannot be taken over (UPDATE waits)
-- before that transaction has committed or rolled back, so a write that
-- passed the fence is never interleaved with the next leader's. It reads
-- clock_timestamp(), not now(): a transaction that waited for a lock must
-- not judge the lease by the time it began.
CREATE FUNCTION vigil_fence(h text, e bigint) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM 1 FROM vigil_leader
        WHERE id = 1 AND holder = h AND epoch = e AND expires_at > clock_timestamp()
        FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'instance % (epoch %) does not hold the leader lease', h, e
            USING ERRCODE = 'VF001';
    END IF;
END
$$;

-- Writes received by an instance that does not lead (Reporter API reports
-- and flushes, Manager API changes), for the leader to apply and delete.
-- Each insert is followed, in its transaction, by NOTIFY vigil_commands.
CREATE TABLE vigil_commands (
    id bigserial PRIMARY KEY,
    kind text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
