import json

from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse

from .models import Note


def notes(request):
    """GET: the notes the request's user may read.  POST {"tenant_id", "body"}:
    add a note (403 where the user may not create notes)."""
    if request.method == "POST":
        data = json.loads(request.body)
        try:
            with transaction.atomic():   # a savepoint: a refused insert leaves the request usable
                note = Note.objects.create(tenant_id=data["tenant_id"], body=data["body"])
        except DatabaseError as e:
            if getattr(e.__cause__, "pgcode", None) == "42501":
                return JsonResponse({"error": "forbidden"}, status=403)
            raise
        return JsonResponse({"id": note.id}, status=201)
    with connection.cursor() as cursor:
        # Only to show which server connection served the request (the test
        # uses it to see connections being reused between users).
        cursor.execute("SELECT pg_backend_pid(), current_setting('tenancy.context')")
        pid, context = cursor.fetchone()
    rows = [{"id": n.id, "tenant_id": str(n.tenant_id), "body": n.body}
            for n in Note.objects.order_by("id")]
    return JsonResponse({"backend_pid": pid, "context": context, "notes": rows})
