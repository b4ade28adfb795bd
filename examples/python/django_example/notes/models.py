from django.db import models


class Note(models.Model):
    """A row of the protected table public.notes (created and protected in
    SQL, see ../README.md, hence managed = False)."""

    tenant_id = models.UUIDField()
    body = models.TextField()

    class Meta:
        managed = False
        db_table = "notes"
