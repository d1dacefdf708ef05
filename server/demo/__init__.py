"""The demo district in one place: grids, units, users, 60 cases over every status and light, photos.
Like app.py it assembles every context, so it may import any of them; nothing imports it but the CLI.
"""
