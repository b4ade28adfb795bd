"""Settings of the pg_tenancy Django 3.2 example: everything in one file.

The database is reached as the application role (not a superuser, not the
tables' owner), normally through PgBouncer in transaction pooling mode.
Set TENANCY_DB_HOST, TENANCY_DB_PORT, TENANCY_DB_NAME, TENANCY_DB_USER
(and TENANCY_DB_PASSWORD) to point it somewhere else.
"""
import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = ["notes"]
MIDDLEWARE = [
    # In a real project, after AuthenticationMiddleware (it needs the user).
    "notes.middleware.TenancyContextMiddleware",
]
ROOT_URLCONF = "tenancy_site.urls"
WSGI_APPLICATION = "tenancy_site.wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": os.environ.get("TENANCY_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("TENANCY_DB_PORT", "6432"),   # PgBouncer
        "NAME": os.environ.get("TENANCY_DB_NAME", "tenancy_example"),
        "USER": os.environ.get("TENANCY_DB_USER", "app"),
        "PASSWORD": os.environ.get("TENANCY_DB_PASSWORD", ""),
        # Django 3.2 has no pool: keep one connection per worker thread open
        # across requests (None: forever) and let PgBouncer share a few
        # server connections between them.
        "CONN_MAX_AGE": None,
        # Required behind PgBouncer in transaction pooling mode: a server-side
        # cursor (QuerySet.iterator()) would outlive the transaction's server
        # connection.
        "DISABLE_SERVER_SIDE_CURSORS": True,
        # Leave AUTOCOMMIT at its default (True): the middleware opens the
        # transaction.  Do NOT use ATOMIC_REQUESTS instead: its transaction
        # starts after every middleware has run, so a context set in a
        # middleware would be outside it.
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
