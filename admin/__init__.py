"""Admin: the map console page and the endpoints only it uses (not built yet).
May import every other context's services.
"""
