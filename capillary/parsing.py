"""What every Capillary route reads and writes: JSON only.

* The body parser is DRF's JSON parser, with a body nested too deeply for Python's decoder (a
  RecursionError, which DRF would let through as a 500) refused as malformed JSON (400).
* The answer is always JSON: ``format=json`` in the query is accepted and ignored, any other
  format (``format=xml``) answers 400 in JSON.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc


class UnsupportedFormat(ParseError):
    default_detail = "format: only json is served (format=json, or leave it out)"


class JsonOnly:
    """A mixin of the Capillary APIViews (see the module)."""

    parser_classes = (BoundedJSONParser,)

    def perform_content_negotiation(self, request, force=False):
        renderer = self.get_renderers()[0]
        requested = request.query_params.get("format")
        if not force and requested is not None and requested.strip().lower() != "json":
            request.accepted_renderer, request.accepted_media_type = renderer, renderer.media_type
            raise UnsupportedFormat()
        return renderer, renderer.media_type
