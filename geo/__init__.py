"""Grids: GeoJSON import/export, point → cell → unit, routing rules, repeats, map queries.
May import server's contexts; never sync, notify or admin.
"""
