#!/usr/bin/env python3
"""Serve the example with a fixed pool of worker threads (Django's runserver
starts a thread per request, so its per-thread connections would not be
reused).  Usage: serve.py [--port 8000] [--threads 8]"""
import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tenancy_site.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402


class PooledWSGIServer(WSGIServer):
    request_queue_size = 128
    threads = 8

    def process_request(self, request, client_address):
        if not hasattr(self, "executor"):
            self.executor = ThreadPoolExecutor(self.threads)
        self.executor.submit(self._work, request, client_address)

    def _work(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    PooledWSGIServer.threads = args.threads
    server = make_server(args.host, args.port, get_wsgi_application(),
                         server_class=PooledWSGIServer, handler_class=QuietHandler)
    print(f"serving on http://{args.host}:{args.port}/notes/ with {args.threads} threads",
          flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
