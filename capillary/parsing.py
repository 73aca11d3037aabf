"""What every Capillary route reads and writes: JSON only, and query strings checked.

* Bodies are read by the project's one reader (``core.request_body``: size, encoding, depth,
  numbers); query strings are checked here (``query_of``): no NUL, no value over 2,000 characters.
* The answer is always JSON: ``format=json`` in the query is accepted and ignored, any other
  format (``format=xml``) answers 400 in JSON.
"""

from rest_framework.exceptions import ParseError

MAX_QUERY_VALUE = 2_000


class UnsupportedFormat(ParseError):
    default_detail = "format: only json is served (format=json, or leave it out)"


class JsonOnly:
    """A mixin of the Capillary APIViews (see the module)."""

    def perform_content_negotiation(self, request, force=False):
        renderer = self.get_renderers()[0]
        requested = request.query_params.get("format")
        if not force and requested is not None and requested.strip().lower() != "json":
            request.accepted_renderer, request.accepted_media_type = renderer, renderer.media_type
            raise UnsupportedFormat()
        return renderer, renderer.media_type


def query_of(request) -> dict:
    """The query parameters (the last of each name), refused (400) when one holds a NUL (which
    PostgreSQL cannot store) or is longer than ``MAX_QUERY_VALUE``."""
    query = request.query_params.dict()
    for name, value in query.items():
        if "\x00" in name or "\x00" in value:
            raise ParseError("query parameters must not contain NUL characters")
        if len(value) > MAX_QUERY_VALUE:
            raise ParseError(f"{name[:50]}: at most {MAX_QUERY_VALUE} characters")
    return query
