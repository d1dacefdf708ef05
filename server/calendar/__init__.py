"""Calendar: working days, deadlines and lights (pure, each SQL form beside its Python form), loading years.
The pure modules import only cases.domain; service.py may import the case service to replan deadlines.
"""
