"""What a file really is, read from its bytes; never from the name or the sender's Content-Type.

The rules, in order:
1. HTML, SVG and XML are never accepted, whatever the Site allows: served from
   the helpdesk's origin they could run script (stored XSS). They are refused
   by extension and by content (a leading tag, as browsers sniff it).
2. The type is detected from the content: magic bytes (the `filetype`
   library) for binary formats; a file with no known signature is text only if
   it is valid UTF-8 without NUL bytes.
3. The detected type must be one the Site allows.
4. The name's extension must belong to the detected type's family: any image
   extension for any image (phones and browsers often save a JPEG as .png,
   and the file is served with its real type anyway), otherwise the type's own
   extensions (.pdf for PDF; .txt/.log/.md for text, .csv for CSV). So
   `invoice.pdf` that is HTML and `cat.png` that is a PDF are refused, while
   `cat.png` that is a JPEG is accepted. A name without an extension gets the
   detected type's.
5. Images are opened with Pillow: verified, measured, refused above a pixel
   limit (decompression bombs), and re-encoded, which drops EXIF and other
   metadata (GPS position, camera serial) and anything appended to the image
   (polyglots). GIFs, which carry no EXIF, are kept as sent.
"""

import io
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass

import filetype
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

# Far above any phone camera (~50 MP), far below what exhausts memory when decoded.
MAX_IMAGE_PIXELS = 60_000_000
MAX_NAME_LENGTH = 150

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
TEXT_TYPES = ("text/plain", "text/csv")
DEFAULT_ALLOWED_TYPES = (*IMAGE_TYPES, "application/pdf", *TEXT_TYPES)

# Each type's extensions; the first is the one a name without an extension gets.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
    "text/plain": (".txt", ".text", ".log", ".md"),
    "text/csv": (".csv",),
}
NEVER_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "application/xml",
        "text/xml",
        "application/javascript",
        "text/javascript",
    }
)
NEVER_EXTENSIONS = frozenset(
    {".html", ".htm", ".xhtml", ".xht", ".shtml", ".svg", ".svgz", ".xml", ".xsl", ".js", ".mjs"}
)
PILLOW_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
}
# What browsers sniff as HTML/XML: a leading "<" then a letter, "!", "?" or "/".
MARKUP_START = re.compile(rb"^\s*<[a-zA-Z!?/]")
UNSAFE_NAME_CHARACTERS = re.compile(r'[<>:"|?*]')


class AttachmentRefused(Exception):
    """The file is not accepted; `detail` is the sentence shown to the sender."""

    def __init__(self, code: str, detail: str, *, retry_after: int = 0) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class DetectedFile:
    content: bytes  # what is stored: re-encoded for most images, as sent otherwise
    content_type: str
    name: str  # sanitised, for display and the download's filename
    extension: str  # the detected type's, for the storage name
    width: int | None = None
    height: int | None = None


def filename_sanitize(name: str) -> str:
    """The last path segment, without control or bidi characters (U+202E "gpj.exe" tricks),
    characters Windows refuses, or leading dots; at most 150 characters, extension kept."""
    name = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = UNSAFE_NAME_CHARACTERS.sub("_", name)
    name = " ".join(name.split()).strip(". ")
    if len(name) > MAX_NAME_LENGTH:
        stem, extension = os.path.splitext(name)
        extension = extension[:20]
        name = stem[: MAX_NAME_LENGTH - len(extension)].rstrip() + extension
    return name


def _family(content_type: str) -> str:
    if content_type in IMAGE_TYPES:
        return "image"
    if content_type in TEXT_TYPES:
        return "text"
    return content_type


def _type_label(content_type: str) -> str:
    labels = {
        "image/png": _("a PNG image"),
        "image/jpeg": _("a JPEG image"),
        "image/gif": _("a GIF image"),
        "image/webp": _("a WebP image"),
        "application/pdf": _("a PDF document"),
        "text/plain": _("a text file"),
        "text/csv": _("a CSV file"),
    }
    return labels.get(content_type, content_type)


def _extensions_of(content_type: str, kind_extension: str | None) -> tuple[str, ...]:
    if content_type in EXTENSIONS:
        return EXTENSIONS[content_type]
    return (f".{kind_extension}",) if kind_extension else ()


def _markup_refused() -> AttachmentRefused:
    return AttachmentRefused("type_forbidden", _("HTML, SVG and XML files are not accepted."))


def _detect_text(data: bytes, extension: str) -> str:
    if b"\x00" in data:
        raise AttachmentRefused("type_unknown", _("This type of file is not recognised."))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AttachmentRefused("invalid_text", _("Text files must be UTF-8 encoded.")) from exc
    if MARKUP_START.match(text.encode("utf-8")[:1024]):
        raise _markup_refused()
    return "text/csv" if extension == ".csv" else "text/plain"


def _image_reencoded(data: bytes, content_type: str) -> tuple[bytes, int, int]:
    """Verify with Pillow, then re-encode without metadata (GIF kept as sent)."""
    damaged = AttachmentRefused(
        "invalid_image", _("The image is damaged or not what it claims to be.")
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                if PILLOW_FORMATS.get(probe.format or "") != content_type:
                    raise damaged
                width, height = probe.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise AttachmentRefused("image_too_large", _("The image has too many pixels."))
                probe.verify()
            if content_type == "image/gif":
                return data, width, height
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                return _reencode(image, content_type), width, height
    except AttachmentRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise AttachmentRefused("image_too_large", _("The image has too many pixels.")) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise damaged from exc


def _reencode(image: Image.Image, content_type: str) -> bytes:
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    if content_type == "image/webp" and getattr(image, "n_frames", 1) > 1:
        image.save(out, "WEBP", save_all=True, quality=90, **extra)
        return out.getvalue()
    # The orientation lives in EXIF, which is dropped: apply it to the pixels first.
    upright = ImageOps.exif_transpose(image)
    if content_type == "image/jpeg":
        upright.save(out, "JPEG", quality=90, **extra)
    elif content_type == "image/png":
        if "transparency" in image.info:
            extra["transparency"] = image.info["transparency"]
        upright.save(out, "PNG", **extra)
    else:
        upright.save(out, "WEBP", quality=90, **extra)
    return out.getvalue()


def file_detect(
    *, data: bytes, name: str, allowed_types: list[str] | tuple[str, ...]
) -> DetectedFile:
    """Accept or refuse (AttachmentRefused) one file; the result may be stored and served."""
    clean_name = filename_sanitize(name)
    stem, extension = os.path.splitext(clean_name)
    extension = extension.lower()
    if not stem and extension:  # ".png": the name was only an extension
        stem, extension = extension, ""
    if extension in NEVER_EXTENSIONS:
        raise _markup_refused()
    if not data:
        raise AttachmentRefused("empty", _("The file is empty."))

    kind = filetype.guess(data[:8192])
    if kind is not None:
        content_type = kind.mime
        kind_extension = kind.extension
    else:
        if MARKUP_START.match(data[:1024]):
            raise _markup_refused()
        content_type = _detect_text(data, extension)
        kind_extension = None
    if content_type in NEVER_TYPES:
        raise _markup_refused()
    if content_type not in allowed_types:
        raise AttachmentRefused(
            "type_not_allowed",
            _("This file is %(type)s, which is not accepted here.")
            % {"type": _type_label(content_type)},
        )

    own_extensions = _extensions_of(content_type, kind_extension)
    family_extensions = {
        ext
        for other, extensions in EXTENSIONS.items()
        if _family(other) == _family(content_type)
        for ext in extensions
    } | set(own_extensions)
    if extension and extension not in family_extensions:
        raise AttachmentRefused(
            "type_mismatch",
            _("The name says %(extension)s but the file is %(type)s.")
            % {"extension": extension, "type": _type_label(content_type)},
        )
    canonical = own_extensions[0] if own_extensions else ""
    if not extension:
        clean_name = (stem or "file") + canonical

    width = height = None
    if content_type in IMAGE_TYPES:
        data, width, height = _image_reencoded(data, content_type)
    return DetectedFile(
        content=data,
        content_type=content_type,
        name=clean_name,
        extension=canonical,
        width=width,
        height=height,
    )
