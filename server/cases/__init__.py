"""Cases: the domain Structs, the life cycle and scope (pure), intake and the case service, the case API.
May import the platform, accounts, calendar (pure) and photos (pure rules).
"""
