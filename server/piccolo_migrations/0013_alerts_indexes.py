"""What Piccolo cannot declare for the alerts of DESIGN §5 (columns in 0013_alerts_outbox).

- One alert per (case, level, recipient, deadline), receipts and closings (no deadline) included:
  a unique index with NULLS NOT DISTINCT, so the worker records with ON CONFLICT DO NOTHING.
- `cases.next_alert_at` indexed only where set, so a pass with nothing due reads one index page.
- Existing open cases get their next light change, so the first pass finds them.
"""

from server.db import raw_sql_migration

ID = "2026-12-02T05:53:37:000000"
VERSION = "1.38.0"
DESCRIPTION = "alert uniqueness per deadline, partial index on cases.next_alert_at"

FORWARDS = """
DROP INDEX IF EXISTS alerts_case_level_recipient;
CREATE UNIQUE INDEX alerts_once ON alerts (case_id, level, recipient, deadline) NULLS NOT DISTINCT;
CREATE INDEX alerts_district_id ON alerts (district_id, id);
CREATE INDEX cases_next_alert_at ON cases (next_alert_at) WHERE next_alert_at IS NOT NULL;
UPDATE cases SET next_alert_at = coalesce(warn_at, due_at)
    WHERE status IN ('dispatched', 'accepted', 'on_site') AND resolved_at IS NULL AND due_at IS NOT NULL;
"""

BACKWARDS = """
DROP INDEX IF EXISTS alerts_once, alerts_district_id, cases_next_alert_at;
CREATE UNIQUE INDEX alerts_case_level_recipient ON alerts (case_id, level, recipient);
"""

forwards = raw_sql_migration(ID, DESCRIPTION, FORWARDS, BACKWARDS)
