from django.db import migrations

# The audit log is append-only at the database level: UPDATE and DELETE raise,
# whoever the SQL comes from (ORM, psql, a compromised web process). TRUNCATE is
# left to the table owner (test database flushes use it); a truncated or edited
# chain is caught by `manage.py verify_audit` and by signed anchors in exports.
FORWARD = """
CREATE OR REPLACE FUNCTION vault_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'vault_auditevent is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER vault_auditevent_append_only
    BEFORE UPDATE OR DELETE ON vault_auditevent
    FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only();
"""

REVERSE = """
DROP TRIGGER IF EXISTS vault_auditevent_append_only ON vault_auditevent;
DROP FUNCTION IF EXISTS vault_audit_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("vault", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, REVERSE)]
