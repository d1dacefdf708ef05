"""Open311 GeoReport v2: what a civic app's request adds to its case, service attributes, rate windows.

- `open311_requests`: the request's own fields that a case has no column for (e-mail, media URL,
  device and account ids, attribute values) and the token a client may look its request up with.
- `categories.attributes`: the service definition's attributes (GeoReport v2 datatypes).
- `rate_windows`: fixed-window counters shared by every server process (civic apps' keys).
"""

from server.db import raw_sql_migration

ID = "2026-12-02T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Open311 requests, service attributes, rate windows"

FORWARDS = """
CREATE TABLE open311_requests (
    case_id uuid PRIMARY KEY REFERENCES cases (id) ON DELETE CASCADE,
    district_id integer NOT NULL REFERENCES districts (id) ON DELETE CASCADE,
    api_key_id integer NOT NULL REFERENCES api_keys (id) ON DELETE NO ACTION,
    token varchar(64) NOT NULL UNIQUE,
    email varchar(200) NOT NULL DEFAULT '',
    media_url varchar(2000) NOT NULL DEFAULT '',
    device_id varchar(200) NOT NULL DEFAULT '',
    account_id varchar(200) NOT NULL DEFAULT '',
    attributes jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX open311_requests_district ON open311_requests (district_id);
ALTER TABLE categories ADD COLUMN attributes jsonb NOT NULL DEFAULT '[]';
ALTER TABLE categories ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE categories ADD COLUMN keywords varchar(400) NOT NULL DEFAULT '';
ALTER TABLE categories ADD COLUMN service_group varchar(100) NOT NULL DEFAULT '';
CREATE TABLE rate_windows (
    scope varchar(200) NOT NULL,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, window_start)
);
CREATE INDEX cases_district_registered ON cases (district_id, registered_at);
"""

BACKWARDS = """
DROP INDEX IF EXISTS cases_district_registered;
DROP TABLE IF EXISTS rate_windows;
ALTER TABLE categories DROP COLUMN IF EXISTS service_group;
ALTER TABLE categories DROP COLUMN IF EXISTS keywords;
ALTER TABLE categories DROP COLUMN IF EXISTS description;
ALTER TABLE categories DROP COLUMN IF EXISTS attributes;
DROP TABLE IF EXISTS open311_requests;
"""

forwards = raw_sql_migration(ID, DESCRIPTION, FORWARDS, BACKWARDS)
