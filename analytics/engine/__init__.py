"""The analytics engine: pure pandas and numpy, no Django (a test enforces it).

Scoring, breakdowns, statistics and disclosure control live here (issue 3).
"""
