-- Forwarding: tenant endpoints, the delivery outbox, and every attempt.

CREATE TABLE endpoints (
    id                          uuid PRIMARY KEY,
    tenant_id                   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                         text NOT NULL,
    description                 text NOT NULL DEFAULT '',
    -- NULL = every event type / channel.
    event_types                 text[],
    channels                    text[],
    enabled                     boolean NOT NULL DEFAULT true,
    -- Why the gateway disabled it (consecutive failures); NULL when enabled or disabled by hand.
    disabled_reason             text,
    secret                      text NOT NULL,
    -- The secret before the last rotation, still signing until previous_secret_expires_at.
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    consecutive_failures        integer NOT NULL DEFAULT 0,
    failing_since               timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX endpoints_tenant ON endpoints (tenant_id, id);

-- The outbox: one row per (event, endpoint), written in the ingest transaction.
CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    endpoint_id      uuid NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- tenant:channel:account:contact, for in-order delivery per conversation (planned).
    ordering_key     text NOT NULL,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempt_count    integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    -- Lease: a worker owns the row until then; a crashed worker's rows come back after it.
    locked_until     timestamptz,
    lease_token      uuid,
    last_status      integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX deliveries_tenant ON deliveries (tenant_id, id);
CREATE INDEX deliveries_endpoint_state ON deliveries (endpoint_id, state, id);
CREATE INDEX deliveries_event ON deliveries (event_id);

-- One row per HTTP attempt, successful or not.
CREATE TABLE attempts (
    id             uuid PRIMARY KEY,
    delivery_id    uuid NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt_number integer NOT NULL,
    started_at     timestamptz NOT NULL,
    duration_ms    integer NOT NULL,
    status_code    integer,
    -- First 4 KiB of the response body, lossily decoded.
    response_body  text,
    error          text,
    succeeded      boolean NOT NULL
);
CREATE INDEX attempts_delivery ON attempts (delivery_id, attempt_number);
