"""The request body parser of the Capillary routes: DRF's JSON parser, with a body nested too
deeply for Python's decoder (a RecursionError, which DRF would let through as a 500) refused as
malformed JSON (400)."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply") from exc
