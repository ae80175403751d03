"""The grants migration: a grant one person gave before two were needed waits for a second person."""

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("exports", "0002_default_agreement")]
AFTER = [("exports", "0003_grant_requests")]


def migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate the exports app to `targets`; return the models as they are then (every other app at its latest)."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "exports"]
    return executor.loader.project_state([*targets, *others]).apps


@pytest.mark.django_db(transaction=True)
def test_legacy_grants_become_requests_and_revoked_ones_stay_revoked() -> None:
    old = migrate(BEFORE)
    user = old.get_model("auth", "User").objects.create(username="rae")
    coalition = old.get_model("surveys", "Coalition").objects.create(slug="c", name="C")
    grants = old.get_model("exports", "ResearchGrant").objects
    given = grants.create(researcher=user, coalition=coalition, granted_by="stew")
    revoked = grants.create(researcher=user, coalition=coalition, granted_by="stew", revoked_by="lee",
                            revoked_at=given.granted_at)  # fmt: skip

    new = migrate(AFTER)

    rows = new.get_model("exports", "ResearchGrant").objects
    assert (rows.get(pk=given.pk).status, rows.get(pk=given.pk).requested_by, rows.get(pk=given.pk).granted_at) == (
        "requested",
        "stew",
        None,
    )
    assert (rows.get(pk=revoked.pk).status, rows.get(pk=revoked.pk).revoked_by) == ("revoked", "lee")
    migrate([node for node in MigrationExecutor(connection).loader.graph.leaf_nodes() if node[0] == "exports"])
