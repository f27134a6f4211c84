import { PostgresAdapter, sql, type Kysely } from 'kysely';

/**
 * PostgreSQL only (nothing on SQLite): one function that appends a batch of audit events to the hash chain, so a
 * group commit is one statement and one round trip instead of five (BEGIN, the append lock, the chain head, the
 * INSERT, COMMIT). It takes the same transaction-scoped advisory lock as before, reads the head (or the signed
 * anchor after pruning), and links each event with hash(n) = SHA-256(hash(n-1) ‖ "\n" ‖ seq ‖ "\n" ‖ event), the
 * formula of src/audit/chain.ts, over the UTF-8 text the node canonicalised. Verification stays in Poort.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE FUNCTION poort_audit_append(
      p_lock bigint, p_ids text[], p_times text[], p_actions text[], p_outcomes text[], p_subject_ids text[],
      p_subject_names text[], p_applications text[], p_ips text[], p_events text[]
    ) RETURNS TABLE (seq integer, prev_hash text, hash text)
    LANGUAGE plpgsql AS $fn$
    #variable_conflict use_column
    DECLARE
      last_seq integer;
      last_hash text;
      next_hash text;
    BEGIN
      PERFORM pg_advisory_xact_lock(p_lock);
      SELECT e.seq, e.hash INTO last_seq, last_hash FROM audit_events e ORDER BY e.seq DESC LIMIT 1;
      IF NOT FOUND THEN
        SELECT c.seq, c.hash INTO last_seq, last_hash FROM audit_checkpoints c ORDER BY c.seq DESC LIMIT 1;
        IF NOT FOUND THEN
          last_seq := 0;
          last_hash := repeat('0', 64);
        END IF;
      END IF;
      FOR i IN 1 .. coalesce(array_length(p_events, 1), 0) LOOP
        next_hash := encode(sha256(convert_to(
          last_hash || E'\n' || (last_seq + 1)::text || E'\n' || p_events[i], 'UTF8')), 'hex');
        INSERT INTO audit_events
          (seq, id, time, action, outcome, subject_id, subject_name, application, ip, event, prev_hash, hash)
        VALUES (last_seq + 1, p_ids[i], p_times[i], p_actions[i], p_outcomes[i], p_subject_ids[i],
          p_subject_names[i], p_applications[i], p_ips[i], p_events[i], last_hash, next_hash);
        seq := last_seq + 1;
        prev_hash := last_hash;
        hash := next_hash;
        RETURN NEXT;
        last_seq := last_seq + 1;
        last_hash := next_hash;
      END LOOP;
    END
    $fn$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`DROP FUNCTION poort_audit_append`.execute(db);
}
