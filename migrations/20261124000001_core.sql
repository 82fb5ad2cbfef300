-- Tenants, their Meta credentials and API keys; raw receipts; normalized events.

CREATE TABLE tenants (
    id           uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Meta's hub.verify_token for the handshake; write-only through the API.
    verify_token text,
    disabled_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Per-channel override of the tenant's verify token (a channel's own value wins).
CREATE TABLE tenant_channels (
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel      text NOT NULL CHECK (channel IN ('whatsapp', 'messenger', 'instagram')),
    verify_token text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel)
);

-- Meta app secrets. channel NULL = tenant-wide; several rows = rotation in progress.
CREATE TABLE app_secrets (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    channel    text CHECK (channel IN ('whatsapp', 'messenger', 'instagram')),
    secret     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX app_secrets_tenant ON app_secrets (tenant_id);

-- Tenant API keys: only a SHA-256 of the key is kept; the key is shown once.
CREATE TABLE api_keys (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key_hash   bytea NOT NULL UNIQUE,
    prefix     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Every accepted (correctly signed) POST, byte for byte, committed before Meta gets its 200.
CREATE TABLE receipts (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Channel named by the callback URL, if any.
    url_channel  text,
    -- Channel from the body's `object`, if it could be read.
    channel      text,
    received_at  timestamptz NOT NULL,
    headers      jsonb NOT NULL,
    body         bytea NOT NULL,
    -- Why the body could not be normalized (not JSON, not a Meta envelope); NULL when fine.
    problem      text
);
CREATE INDEX receipts_tenant_received ON receipts (tenant_id, received_at);
CREATE INDEX receipts_problem ON receipts (received_at) WHERE problem IS NOT NULL;

-- Normalized events, one per Meta event, stored once per tenant thanks to dedup_key.
CREATE TABLE events (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    receipt_id   uuid REFERENCES receipts (id) ON DELETE SET NULL,
    dedup_key    text NOT NULL,
    event_type   text NOT NULL,
    channel      text NOT NULL,
    contact      text,
    occurred_at  timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- The whole schema-v1 event, including `raw`, exactly as forwarded (json keeps the text).
    payload      json NOT NULL,
    UNIQUE (tenant_id, dedup_key)
);
CREATE INDEX events_tenant_id ON events (tenant_id, id);
CREATE INDEX events_tenant_contact ON events (tenant_id, contact, id);
