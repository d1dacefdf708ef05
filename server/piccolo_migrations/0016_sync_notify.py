"""Change notifications for the sync API's memory (`sync.watch`): NOTIFY on channel `gridcase_sync`.

Payloads, one per statement (and district), delivered at commit in commit order:
- `c <xid8> <district id> <scope key> …`: cases or departures of that transaction touched those
  keys; `*` instead of the keys when they would not fit in a payload (a bulk statement);
- `t <token hash> …` (or `t *`): auth tokens deleted or changed (log-out, pruning);
- `a`: users, units, cell workers or devices changed, so cached actors and devices are stale.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-06T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "NOTIFY on changes to cases, departures, tokens and accounts"

FORWARDS = """
CREATE FUNCTION gridcase_notify_keys(district integer, keys text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    head text := 'c ' || pg_current_xact_id()::text || ' ' || district::text || ' ';
    body text := array_to_string(keys, ' ');
BEGIN
    -- NOTIFY payloads are limited to 8000 bytes: a bulk change names the whole district.
    PERFORM pg_notify('gridcase_sync', head || CASE WHEN length(body) > 7000 THEN '*' ELSE body END);
END $$;

CREATE FUNCTION gridcase_notify_cases() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gridcase_notify_keys(district_id, array_agg(DISTINCT k::text))
    FROM changed, unnest(scope_keys) k GROUP BY district_id;
    RETURN NULL;
END $$;
CREATE TRIGGER cases_notify_insert AFTER INSERT ON cases REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_cases();
CREATE TRIGGER cases_notify_update AFTER UPDATE ON cases REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_cases();

CREATE FUNCTION gridcase_notify_departures() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM gridcase_notify_keys(district_id, array_agg(DISTINCT scope_key::text))
    FROM changed GROUP BY district_id;
    RETURN NULL;
END $$;
CREATE TRIGGER case_departures_notify AFTER INSERT ON case_departures REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_departures();

CREATE FUNCTION gridcase_notify_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    hashes text;
BEGIN
    SELECT string_agg(token_hash, ' ') INTO hashes FROM gone;
    IF hashes IS NOT NULL THEN
        PERFORM pg_notify('gridcase_sync', 't ' || CASE WHEN length(hashes) > 7000 THEN '*' ELSE hashes END);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER auth_tokens_notify_delete AFTER DELETE ON auth_tokens REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_tokens();
CREATE TRIGGER auth_tokens_notify_update AFTER UPDATE ON auth_tokens REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_tokens();

CREATE FUNCTION gridcase_notify_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridcase_sync', 'a');
    RETURN NULL;
END $$;
CREATE TRIGGER app_users_notify AFTER UPDATE OF role, active, unit_id, district_id OR DELETE
    ON app_users FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_accounts();
CREATE TRIGGER grid_workers_notify AFTER INSERT OR UPDATE OR DELETE
    ON grid_workers FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_accounts();
CREATE TRIGGER units_notify AFTER INSERT OR UPDATE OF parent_id OR DELETE
    ON units FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_accounts();
CREATE TRIGGER devices_notify AFTER UPDATE OF user_id OR DELETE
    ON devices FOR EACH STATEMENT EXECUTE FUNCTION gridcase_notify_accounts();
"""

BACKWARDS = """
DROP TRIGGER IF EXISTS cases_notify_insert ON cases;
DROP TRIGGER IF EXISTS cases_notify_update ON cases;
DROP TRIGGER IF EXISTS case_departures_notify ON case_departures;
DROP TRIGGER IF EXISTS auth_tokens_notify_delete ON auth_tokens;
DROP TRIGGER IF EXISTS auth_tokens_notify_update ON auth_tokens;
DROP TRIGGER IF EXISTS app_users_notify ON app_users;
DROP TRIGGER IF EXISTS grid_workers_notify ON grid_workers;
DROP TRIGGER IF EXISTS units_notify ON units;
DROP TRIGGER IF EXISTS devices_notify ON devices;
DROP FUNCTION IF EXISTS gridcase_notify_cases(), gridcase_notify_departures(), gridcase_notify_tokens(),
    gridcase_notify_accounts(), gridcase_notify_keys(integer, text[]);
"""


async def _execute(script: str) -> None:
    # A prepared statement holds one command, so the script runs through one plain connection.
    connection = await engine_finder().get_new_connection()
    try:
        await connection.execute(script)
    finally:
        await connection.close()


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="server", description=DESCRIPTION)

    async def run() -> None:
        await _execute(FORWARDS)

    async def run_backwards() -> None:
        await _execute(BACKWARDS)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
