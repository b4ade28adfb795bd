"""Run each request in one transaction, with the pg_tenancy context of its user."""
from django.db import DatabaseError, connection, transaction
from django.http import JsonResponse


def request_identity(request):
    """(user uuid, tenant uuid or None) of the request.

    Replace with your authentication: e.g. the tenancy user id you store
    beside request.user, and the tenant from the URL or a session.  The
    headers here only stand in for that, and must never be trusted from a
    client in a real deployment.
    """
    return (request.headers.get("X-Tenancy-User"),
            request.headers.get("X-Tenancy-Tenant") or None)


class TenancyContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user_id, tenant_id = request_identity(request)
        if user_id is None:
            # No context: protected tables show no rows, writes fail (42501).
            return self.get_response(request)
        with transaction.atomic():
            try:
                with connection.cursor() as cursor:
                    # Bound parameters, in the transaction that uses them.
                    cursor.execute("SELECT tenancy.set_context(%s, %s)",
                                   [user_id, tenant_id])
            except DatabaseError as e:
                transaction.set_rollback(True)
                code = getattr(e.__cause__, "pgcode", None)
                # 42501: not a member, or nothing in that tenant; 22P02: not a uuid
                status = {"42501": 403, "22P02": 400}.get(code, 500)
                return JsonResponse({"error": "no tenancy context", "sqlstate": code},
                                    status=status)
            return self.get_response(request)

    def process_exception(self, request, exception):
        # A view that raised is turned into a 500 response before __call__
        # sees it: roll the request's transaction back instead of committing.
        if connection.in_atomic_block:
            transaction.set_rollback(True)
        return None
