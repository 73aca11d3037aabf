from pathlib import Path

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

FAVICON = (Path(__file__).resolve().parent / "favicon.ico").read_bytes()


def healthz(request):
    """Liveness and database reachability, for load balancers and `make run`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


@require_safe
def favicon(request):
    """The icon browsers ask every site for (a 32 px coin on the admin's blue)."""
    return HttpResponse(FAVICON, content_type="image/x-icon", headers={"Cache-Control": "public, max-age=86400"})
