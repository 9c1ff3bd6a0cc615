-- invariant 5: one round trip appends events to the hash chain. The caller computes each
-- event's content digest (SHA-256 of its fields, see server/audit/append.ts); here, under
-- a transaction-scoped advisory lock that serializes appends across every process, each
-- event gets the next seq, the previous row's hash, and
--   hash = SHA-256(seq || ':' || prev_hash || ':' || content_digest).
-- Statements in a VOLATILE plpgsql function take fresh snapshots, so the head read after
-- the lock is the committed head even when this call waited for another appender.
CREATE OR REPLACE FUNCTION airlock_audit_append(events jsonb)
RETURNS TABLE (out_seq bigint, out_hash text, out_prev_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  head_seq bigint;
  head_hash text;
  e jsonb;
  h text;
BEGIN
  PERFORM pg_advisory_xact_lock(1635083380);
  SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
  head_seq := coalesce(head_seq, 0);
  head_hash := coalesce(head_hash, repeat('0', 64));
  FOR e IN SELECT value FROM jsonb_array_elements(events) LOOP
    head_seq := head_seq + 1;
    h := encode(sha256(convert_to(head_seq::text || ':' || head_hash || ':' || (e->>'digest'), 'UTF8')), 'hex');
    INSERT INTO audit_events (seq, id, at, type, actor_type, actor_id, request_id, session_id, payload, prev_hash, hash)
    VALUES (head_seq, e->>'id', (e->>'at')::timestamptz, e->>'type', e->>'actorType', e->>'actorId', e->>'requestId',
            e->>'sessionId', e->>'payload', head_hash, h);
    out_seq := head_seq;
    out_hash := h;
    out_prev_hash := head_hash;
    RETURN NEXT;
    head_hash := h;
  END LOOP;
END;
$$;
