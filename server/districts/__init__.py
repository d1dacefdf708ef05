"""Districts: creating a district with its calendars, categories, units and users (the demo and tests use it).
May import the platform, accounts and calendar.
"""
