"""The pending-pool store as one PostgreSQL function (the submission hot path).

`surveys_claim_and_store` runs as a single statement from the client, atomic
on its own, so a submission needs no BEGIN/COMMIT round trips:

1. it takes the wave's advisory lock in shared mode (closing a wave takes it
   exclusively, so a close waits for submissions in flight);
2. then, in a statement whose snapshot is taken after the lock (PL/pgSQL
   gives every statement a fresh snapshot under READ COMMITTED), it claims
   the invitation only if it is unused and the wave is still open;
3. and inserts the answers into the pending pool in the same transaction.

It returns true when the answers were stored.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION surveys_claim_and_store(
    p_invitation uuid, p_wave bigint, p_pending uuid, p_sector varchar, p_answers jsonb, p_now timestamptz
) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7301, p_wave::int4);
    UPDATE surveys_invitation SET is_used = true
     WHERE id = p_invitation AND NOT is_used
       AND EXISTS (SELECT 1 FROM surveys_wave w WHERE w.id = p_wave AND w.status = 'open' AND w.closes_at > p_now);
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO surveys_pendingsubmission (id, wave_id, sector, answers)
    VALUES (p_pending, p_wave, p_sector, p_answers);
    RETURN true;
END;
$$;
"""
DROP = "DROP FUNCTION IF EXISTS surveys_claim_and_store(uuid, bigint, uuid, varchar, jsonb, timestamptz);"


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("surveys", "0004_invitation_fillfactor")]

    operations = [migrations.RunPython(create, drop)]
