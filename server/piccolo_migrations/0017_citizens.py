"""Citizen channels (issue 15): lookup codes, abusive-complainant marks.

- `cases.lookup_code`: eight digits every case gets from PostgreSQL's strong random source
  (`gen_random_uuid`) when it is inserted, by whatever path: with its ticket it opens `/track`.
  Never in a staff view or a sync pull: the complainant gets it on the receipt.
- `abusive_complainants`: a district admin's mark on a phone number (恶意投诉), with the reason,
  which intake staff see; lifting a mark keeps its row (counted, audited).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-08T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "lookup codes, abusive-complainant marks"

FORWARDS = """
CREATE FUNCTION gridcase_lookup_code() RETURNS varchar LANGUAGE sql VOLATILE AS $$
    SELECT lpad(((('x' || substr(replace(gen_random_uuid()::text, '-', ''), 1, 12))::bit(48)::bigint)
        % 100000000)::text, 8, '0')
$$;
ALTER TABLE cases ADD COLUMN lookup_code varchar(8) NOT NULL DEFAULT gridcase_lookup_code();
CREATE TABLE abusive_complainants (
    id serial PRIMARY KEY,
    district_id integer NOT NULL REFERENCES districts (id) ON DELETE CASCADE,
    phone varchar(32) NOT NULL,
    reason varchar(1000) NOT NULL,
    marked_by integer NOT NULL REFERENCES app_users (id) ON DELETE NO ACTION,
    marked_at timestamptz NOT NULL DEFAULT now(),
    lifted_at timestamptz
);
CREATE UNIQUE INDEX abusive_complainants_active ON abusive_complainants (district_id, phone)
    WHERE lifted_at IS NULL;
"""

BACKWARDS = """
DROP TABLE IF EXISTS abusive_complainants;
ALTER TABLE cases DROP COLUMN IF EXISTS lookup_code;
DROP FUNCTION IF EXISTS gridcase_lookup_code();
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
