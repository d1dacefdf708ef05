"""The roles of DESIGN §1 and the sets of them that rules and guards name, each defined once."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ADMIN_ROLES",
    "ALL_ROLES",
    "CONSOLE_ROLES",
    "DISTRICT_ROLES",
    "FIELD_ROLES",
    "FULL_PHONE_ROLES",
    "INTAKE_ROLES",
    "MAP_ROLES",
    "REGISTRAR_ROLES",
    "Role",
]

Role = Literal[
    "agent", "grid_worker", "squad_member", "squad_leader", "unit_leader", "district_admin", "evaluator"
]
ALL_ROLES: frozenset[str] = frozenset(get_args(Role))
# Handheld roles: they accept, arrive, return and resolve in the field, and push from a device.
FIELD_ROLES: frozenset[str] = frozenset({"grid_worker", "squad_member", "squad_leader"})
# The complaint office: registers, dispatches, reviews and calls back (受理, 派遣, 审核, 回访).
INTAKE_ROLES: frozenset[str] = frozenset({"agent", "district_admin"})
# Who may register a case: the office, and grid workers reporting what they found.
REGISTRAR_ROLES: frozenset[str] = INTAKE_ROLES | {"grid_worker"}
# Who reads the map console's queries and route suggestions.
CONSOLE_ROLES: frozenset[str] = INTAKE_ROLES
# Who reads the map: the console, and unit leaders over their own units' cases (the map's case
# queries filter by visibility, so a leader sees no other unit's case there).
MAP_ROLES: frozenset[str] = CONSOLE_ROLES | {"unit_leader"}
# Who changes the district's set-up: calendars, routing rules, grids.
ADMIN_ROLES: frozenset[str] = frozenset({"district_admin"})
# Roles that read the whole district; everyone else reads through units, grids or assignment.
DISTRICT_ROLES: frozenset[str] = frozenset({"agent", "district_admin", "evaluator"})
# Complaint-office roles that see a complainant's number in full; the units handling the case
# (field roles and unit leaders) only see it with the complainant's consent.
FULL_PHONE_ROLES: frozenset[str] = frozenset({"agent", "district_admin", "evaluator"})
