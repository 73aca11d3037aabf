"""What ``OPTIONS`` tells a caller about an API view: its name and the media types it renders and
parses, never the view's docstring (an internal note for developers; the public description of
every operation is the OpenAPI schema, ``/api/schema/``)."""

from rest_framework.metadata import SimpleMetadata


class PublicMetadata(SimpleMetadata):
    def determine_metadata(self, request, view):
        metadata = super().determine_metadata(request, view)
        metadata.pop("description", None)
        return metadata
