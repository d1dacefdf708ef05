"""Open311 GeoReport v2 for civic apps: the wire formats and rules (pure), queries, and controllers.
May import the platform, accounts and the case intake; geo reaches it only through the injected locate_cell.
"""
