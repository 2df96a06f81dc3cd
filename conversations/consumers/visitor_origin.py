"""Where a visitor's socket comes from: the host page's origin and, behind a CDN, the
visitor's city and country."""

from urllib.parse import urlsplit


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


# Country/city headers that CDNs and proxies add; the first present wins.
LOCATION_HEADERS = (
    (b"cf-ipcity", b"cf-ipcountry"),
    (b"cloudfront-viewer-city", b"cloudfront-viewer-country"),
    (b"x-appengine-city", b"x-appengine-country"),
    (b"x-geo-city", b"x-geo-country"),
)


def location_from_headers(headers: dict[bytes, bytes]) -> str:
    for city_header, country_header in LOCATION_HEADERS:
        country = headers.get(country_header, b"").decode("latin-1").strip()
        if country:
            city = headers.get(city_header, b"").decode("latin-1").strip()
            return f"{city}, {country}" if city else country
    return ""
