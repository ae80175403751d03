"""The analytics engine: pure pandas and numpy, no Django (a test enforces it).

Scoring, breakdowns, statistics and disclosure control live here (issue 3).
`ENGINE_VERSION` keys stored results: a change that alters any published
figure bumps it, and results are recomputed under the new version.
"""

ENGINE_VERSION = "2026.11.2"
