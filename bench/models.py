"""The one row the minimal DRF baseline stores; installed only by `bench.settings`."""

import uuid

from django.db import models


class BaselineSubmission(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    answers = models.JSONField()

    # Declared so that type checkers see it without `bench` in the test settings' INSTALLED_APPS.
    objects: models.Manager["BaselineSubmission"] = models.Manager()

    def __str__(self) -> str:
        return f"baseline {self.pk}"
