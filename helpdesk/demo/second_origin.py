"""A second origin (another port) serving the demo shop page, to prove cross-origin embedding."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.template.loader import render_to_string

from helpdesk.demo import DEMO_SITE_KEY


def render_shop_page(*, widget_base: str, page_origin: str, site_key: str = DEMO_SITE_KEY) -> bytes:
    return render_to_string(
        "demo/shop.html",
        {
            "widget_base": widget_base,
            "site_key": site_key,
            "origin_label": (
                f"This page is served from {page_origin} "
                f"and embeds the helpdesk from {widget_base}."
            ),
        },
    ).encode("utf-8")


def second_origin_start(*, host: str, port: int, widget_base: str) -> ThreadingHTTPServer:
    page = render_shop_page(widget_base=widget_base, page_origin=f"http://{host}:{port}")

    class ShopPage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args) -> None:
            pass

    server = ThreadingHTTPServer((host, port), ShopPage)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="demo-second-origin").start()
    return server
