-- Media capture: per-channel Graph API settings and the captured files.

-- Whether a tenant captures media on a channel, and the Graph API token to do it with
-- (write-only through the API, sealed like the other secrets).
CREATE TABLE channel_media (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel      text NOT NULL CHECK (channel IN ('whatsapp', 'messenger', 'instagram')),
    enabled      boolean NOT NULL DEFAULT false,
    graph_token  text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel)
);

-- One row per event whose media is captured, written in the ingest transaction so a capture
-- is never forgotten; workers claim pending rows with a lease, like deliveries.
CREATE TABLE media (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id        uuid NOT NULL UNIQUE REFERENCES events (id) ON DELETE CASCADE,
    channel         text NOT NULL,
    -- What Meta sent: a media id (WhatsApp) and/or a short-lived URL.
    meta_id         text,
    source_url      text,
    -- Meta's sha256 from the webhook, checked when the Graph API gives none.
    expected_sha256 text,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'stored', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    lease_token     uuid,
    mime_type       text,
    filename        text,
    size_bytes      bigint,
    -- Hex SHA-256 of the stored bytes.
    sha256          text,
    storage_key     text,
    error           text,
    -- Signs the expiring links to this file; never leaves the database.
    link_key        bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX media_pending ON media (created_at) WHERE state = 'pending';
CREATE INDEX media_tenant ON media (tenant_id, id);
