"""Joined reports (issue 15 item 4, 一事一单): further complainants of one case.

`case_complainants` holds everyone who reported a case's problem once a report was joined to it:
the first complainant (copied from the case row when the first report joins, so that every
complainant of a joined case is rated and told alike) and each further one, with their own
channel, contact, words and lookup code. A case nobody joined has no rows here.
"""

from server.db import raw_sql_migration

ID = "2026-12-09T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "further complainants of a case (joined reports)"

FORWARDS = """
CREATE TABLE case_complainants (
    id bigserial PRIMARY KEY,
    case_id uuid NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    district_id integer NOT NULL REFERENCES districts (id) ON DELETE CASCADE,
    first boolean NOT NULL DEFAULT false,
    channel varchar(16) NOT NULL,
    name varchar(100) NOT NULL DEFAULT '',
    phone varchar(32) NOT NULL DEFAULT '',
    anonymous boolean NOT NULL DEFAULT false,
    description text NOT NULL DEFAULT '',
    lookup_code varchar(8) NOT NULL DEFAULT gridcase_lookup_code(),
    joined_at timestamptz NOT NULL DEFAULT now(),
    joined_by integer REFERENCES app_users (id) ON DELETE NO ACTION,
    satisfaction varchar(24),
    solved boolean,
    comment text NOT NULL DEFAULT '',
    rated_at timestamptz
);
CREATE INDEX case_complainants_case_id ON case_complainants (case_id);
CREATE UNIQUE INDEX case_complainants_one_first ON case_complainants (case_id) WHERE first;
"""

BACKWARDS = """
DROP TABLE IF EXISTS case_complainants;
"""

forwards = raw_sql_migration(ID, DESCRIPTION, FORWARDS, BACKWARDS)
