"""Real files made in memory for the attachment tests (no fixtures on disk)."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

# A minimal but well-formed one-page PDF.
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
HTML = b"<!doctype html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>'


def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (32, 24), exif: bytes | None = None):
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    image.save(out, fmt, **options)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Inc"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90 degrees to show upright
    exif.get_ifd(0x8825)[2] = (59.0, 54.0, 0.0)  # GPSLatitude
    return image_bytes("JPEG", size=(40, 20), exif=exif.tobytes())


def upload(name: str, data: bytes, content_type: str = "application/octet-stream"):
    """The sender's Content-Type is whatever they claim; the server never reads it."""
    return SimpleUploadedFile(name, data, content_type=content_type)
