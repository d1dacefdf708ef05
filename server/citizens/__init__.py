"""Citizen channels (issue 15): the /report and /track pages, public tracking, rating, marks."""
