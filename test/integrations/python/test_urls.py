"""The example's URLs, and a view that fails after writing (for the check that
the middleware rolls such a request back)."""
from django.urls import path

from notes.models import Note
from tenancy_site.urls import urlpatterns as example_urls


def write_then_fail(request):
    Note.objects.create(tenant_id=request.GET["tenant"], body=request.GET["body"])
    raise RuntimeError("the view failed after writing")


urlpatterns = example_urls + [path("fail/", write_then_fail)]
