-- The rate limiting objects of the TensorZero gateway's Postgres schema (its migration `rate-limiting`), created by
-- tz-sidecar only where they are absent: the same table, type and functions, with the same names, arguments, result
-- columns and arithmetic, so a sidecar and the gateway share buckets. A bucket holds `tickets` as of
-- `balance_as_of`; every whole refill interval since then adds `refill_amount`, up to `capacity`.

CREATE TABLE resource_bucket (
    key TEXT PRIMARY KEY,
    tickets BIGINT NOT NULL CHECK (tickets >= 0),
    balance_as_of TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

CREATE TYPE calculated_bucket_state AS (
    available_tickets BIGINT,
    new_balance_as_of TIMESTAMPTZ,
    intervals_passed BIGINT
);

CREATE OR REPLACE FUNCTION _calculate_refilled_state(
    p_current_tickets BIGINT,
    p_balance_as_of TIMESTAMPTZ,
    p_capacity BIGINT,
    p_refill_amount BIGINT,
    p_refill_interval INTERVAL
) RETURNS calculated_bucket_state LANGUAGE plpgsql AS $$
DECLARE
    n BIGINT;
    s calculated_bucket_state;
BEGIN
    IF p_refill_interval <= '0 seconds'::interval THEN
        RAISE EXCEPTION 'Refill interval must be positive, got: %', p_refill_interval;
    END IF;
    -- Whole intervals only; never negative (a transaction may start before a concurrent one's balance_as_of).
    n := GREATEST(floor(EXTRACT(EPOCH FROM (now() - p_balance_as_of)) / EXTRACT(EPOCH FROM p_refill_interval)), 0);
    s.available_tickets := LEAST(p_current_tickets + n * p_refill_amount, p_capacity);
    s.intervals_passed := n;
    s.new_balance_as_of := p_balance_as_of + n * p_refill_interval;
    RETURN s;
END;
$$;

CREATE OR REPLACE FUNCTION get_resource_bucket_balance(
    p_key TEXT,
    p_capacity BIGINT,
    p_refill_amount BIGINT,
    p_refill_interval INTERVAL
) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE
    b resource_bucket%ROWTYPE;
BEGIN
    SELECT * INTO b FROM resource_bucket WHERE resource_bucket.key = p_key;
    IF NOT FOUND THEN
        RETURN p_capacity;
    END IF;
    RETURN (_calculate_refilled_state(b.tickets, b.balance_as_of, p_capacity, p_refill_amount, p_refill_interval)).available_tickets;
END;
$$;

-- All buckets or none. Rows are created at capacity when new and locked in key order (no deadlocks between callers);
-- on failure every bucket is still brought up to date (refilled), nothing is taken.
CREATE OR REPLACE FUNCTION consume_multiple_resource_tickets(
    p_keys TEXT[],
    p_requested_amounts BIGINT[],
    p_capacities BIGINT[],
    p_refill_amounts BIGINT[],
    p_refill_intervals INTERVAL[]
) RETURNS TABLE (bucket_key TEXT, is_successful BOOLEAN, tickets_remaining BIGINT, tickets_consumed BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    n INT := array_length(p_keys, 1);
    i INT;
    b resource_bucket%ROWTYPE;
    s calculated_bucket_state;
    avail BIGINT[] := '{}';
    as_of TIMESTAMPTZ[] := '{}';
    short BOOLEAN := false;
BEGIN
    IF n IS NULL OR n != array_length(p_requested_amounts, 1) OR n != array_length(p_capacities, 1)
       OR n != array_length(p_refill_amounts, 1) OR n != array_length(p_refill_intervals, 1) THEN
        RAISE EXCEPTION 'Input arrays must have the same length';
    END IF;
    IF n != (SELECT COUNT(DISTINCT k) FROM unnest(p_keys) AS k) THEN
        RAISE EXCEPTION 'Duplicate keys are not allowed in the input array';
    END IF;
    FOR i IN SELECT o.idx FROM unnest(p_keys) WITH ORDINALITY AS o(k, idx) ORDER BY o.k LOOP
        INSERT INTO resource_bucket (key, tickets, balance_as_of) VALUES (p_keys[i], p_capacities[i], now())
            ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
            RETURNING * INTO b;
        s := _calculate_refilled_state(b.tickets, b.balance_as_of, p_capacities[i], p_refill_amounts[i], p_refill_intervals[i]);
        avail[i] := s.available_tickets;
        as_of[i] := s.new_balance_as_of;
        IF s.available_tickets < p_requested_amounts[i] THEN
            short := true;
        END IF;
    END LOOP;
    FOR i IN 1..n LOOP
        UPDATE resource_bucket
            SET tickets = CASE WHEN short THEN avail[i] ELSE avail[i] - p_requested_amounts[i] END,
                balance_as_of = as_of[i]
            WHERE resource_bucket.key = p_keys[i];
        bucket_key := p_keys[i];
        is_successful := NOT short;
        tickets_remaining := CASE WHEN short THEN avail[i] ELSE avail[i] - p_requested_amounts[i] END;
        tickets_consumed := CASE WHEN short THEN 0 ELSE p_requested_amounts[i] END;
        RETURN NEXT;
    END LOOP;
END;
$$;

CREATE OR REPLACE FUNCTION return_multiple_resource_tickets(
    p_keys TEXT[],
    p_amounts BIGINT[],
    p_capacities BIGINT[],
    p_refill_amounts BIGINT[],
    p_refill_intervals INTERVAL[]
) RETURNS TABLE (bucket_key_returned TEXT, final_balance BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    n INT := array_length(p_keys, 1);
    i INT;
    b resource_bucket%ROWTYPE;
    s calculated_bucket_state;
BEGIN
    IF n IS NULL OR n != array_length(p_amounts, 1) OR n != array_length(p_capacities, 1)
       OR n != array_length(p_refill_amounts, 1) OR n != array_length(p_refill_intervals, 1) THEN
        RAISE EXCEPTION 'Input arrays must have the same length';
    END IF;
    IF n != (SELECT COUNT(DISTINCT k) FROM unnest(p_keys) AS k) THEN
        RAISE EXCEPTION 'Duplicate keys are not allowed in the input array';
    END IF;
    FOR i IN SELECT o.idx FROM unnest(p_keys) WITH ORDINALITY AS o(k, idx) ORDER BY o.k LOOP
        INSERT INTO resource_bucket (key, tickets, balance_as_of) VALUES (p_keys[i], p_capacities[i], now())
            ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
            RETURNING * INTO b;
        s := _calculate_refilled_state(b.tickets, b.balance_as_of, p_capacities[i], p_refill_amounts[i], p_refill_intervals[i]);
        UPDATE resource_bucket
            SET tickets = LEAST(s.available_tickets + p_amounts[i], p_capacities[i]),
                balance_as_of = s.new_balance_as_of
            WHERE resource_bucket.key = p_keys[i];
        bucket_key_returned := p_keys[i];
        final_balance := LEAST(s.available_tickets + p_amounts[i], p_capacities[i]);
        RETURN NEXT;
    END LOOP;
END;
$$;
