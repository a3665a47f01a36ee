-- The audit archive: one row per finished BullMQ notification job (per outcome: a job
-- retried by hand after it failed and finished again is a second row).
-- Applied by the archiver at start (ARCHIVE_APPLY_MIGRATIONS=true, the default), or by
-- hand, in file order, when the archiver's role may not run DDL:
--   psql "$URL" -1 -v ON_ERROR_STOP=1 -f archiver/migrations/0001_notification_archive.sql
-- Each file records itself in archiver_schema_migrations, which this first one creates.
CREATE TABLE archiver_schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_archive (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    prefix         text        NOT NULL,              -- QUEUE_PREFIX
    queue          text        NOT NULL,
    job_id         text        NOT NULL,
    event          text        NOT NULL,              -- the job name
    namespace      text,
    rooms          text[]      NOT NULL DEFAULT '{}',
    resource_id    text,                              -- the envelope's id, as text
    data           jsonb,
    metadata       jsonb,
    -- The whole job data, verbatim, when it is not an envelope of the contract's shape
    -- (an invalid notification): nothing the producer sent is lost.
    job_data       text,
    trace_id       text,                              -- metadata.trace_id, or the gateway's
    state          text        NOT NULL CHECK (state IN ('completed', 'failed')),
    return_value   jsonb,
    failed_reason  text,
    attempts_made  integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    processed_at   timestamptz,
    finished_at    timestamptz NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    -- One row per job and outcome: an archiver that crashed after committing a batch,
    -- or two archivers reading the same batch, insert nothing twice.
    CONSTRAINT notification_archive_job_outcome
        UNIQUE (prefix, queue, job_id, created_at, finished_at)
);

CREATE INDEX notification_archive_trace_id ON notification_archive (trace_id);
CREATE INDEX notification_archive_resource ON notification_archive (resource_id, finished_at);
-- By room and time: the GIN index finds a room's rows, the finished_at index bounds the
-- time (PostgreSQL combines the two), and it also serves "everything since".
CREATE INDEX notification_archive_rooms ON notification_archive USING gin (rooms);
CREATE INDEX notification_archive_finished_at ON notification_archive (finished_at);

INSERT INTO archiver_schema_migrations (version, name) VALUES (1, '0001_notification_archive');
