-- invariant 5, privileges half: whatever roles the schema owner's default privileges gave
-- UPDATE, DELETE or TRUNCATE on tables (an application role, see README "Least privilege on
-- PostgreSQL"), none keeps them on the audit table. Only its owner could still change it,
-- and Airlock need not run as the owner (AIRLOCK_MIGRATION_DATABASE_URL).
DO $$
DECLARE
  grantee_name text;
BEGIN
  FOR grantee_name IN
    SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
    WHERE g.table_schema = current_schema() AND g.table_name = 'audit_events'
      AND g.privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
      AND g.grantee <> 'PUBLIC'
      AND g.grantee <> (SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'audit_events')
  LOOP
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM %I', grantee_name);
  END LOOP;
END;
$$;
