"""The OpenAPI 3 document of the API, from DRF's built-in schema generation.

:class:`WebhooksAutoSchema` lets each view describe its actions in one dict,
``schema_actions = {action: ActionSchema(...)}``: which serializer the request
and the response use, which status codes answer, and extra parameters (such
as the ``Idempotency-Key`` header). Operation ids need no ``inflection``.

Views declare it through :class:`ViewSchema`, which steps aside for a project
whose ``DEFAULT_SCHEMA_CLASS`` is not DRF's own (drf-spectacular's, say): then
the views carry the project's schema class, so the project's own schema
(``manage.py spectacular``) includes the app's routes, described by that
generator's introspection. The app's ``schema/`` routes always use ours.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from importlib.util import find_spec

from django.core.validators import URLValidator
from django.urls import NoReverseMatch, reverse
from rest_framework import serializers
from rest_framework.renderers import JSONOpenAPIRenderer, OpenAPIRenderer
from rest_framework.response import Response
from rest_framework.schemas.openapi import AutoSchema, SchemaGenerator
from rest_framework.schemas.views import SchemaView as DRFSchemaView
from rest_framework.settings import api_settings

from webhooks_app.api.permissions import ConfiguredPermissionsMixin

NO_BODY = object()  # an ActionSchema.request value: the action takes no request body


@dataclass(frozen=True)
class ActionSchema:
    request: type[serializers.Serializer] | object | None = None  # None: the view's serializer
    response: type[serializers.Serializer] | None = None  # None: the view's serializer
    statuses: tuple[str, ...] = ()  # (): DRF's default (201 for POST, 200 otherwise)
    parameters: tuple[dict, ...] = ()  # extra OpenAPI parameter objects


class WebhooksAutoSchema(AutoSchema):
    """AutoSchema reading per-action overrides from the view's ``schema_actions``."""

    def __init__(self, *, singular: str, plural: str, tags: list[str] | None = None) -> None:
        super().__init__(tags=tags, operation_id_base=singular)
        self.plural = plural

    def _action(self) -> ActionSchema:
        return getattr(self.view, "schema_actions", {}).get(
            getattr(self.view, "action", None), ActionSchema()
        )

    def _instance(self, serializer_class):
        return serializer_class(context=self.view.get_serializer_context())

    def get_operation_id_base(self, path, method, action):
        return self.plural if action == "list" else self.operation_id_base

    def allows_filters(self, path, method):
        return getattr(self.view, "action", None) == "list"

    def get_request_serializer(self, path, method):
        request = self._action().request
        if request is NO_BODY:
            return None
        return self._instance(request) if request else super().get_request_serializer(path, method)

    def get_response_serializer(self, path, method):
        response = self._action().response
        if response:
            return self._instance(response)
        return super().get_response_serializer(path, method)

    def get_request_body(self, path, method):
        if self._action().request is NO_BODY:
            return {}
        return super().get_request_body(path, method)

    def get_responses(self, path, method):
        responses = super().get_responses(path, method)
        statuses = self._action().statuses
        if statuses:
            ((_code, response),) = responses.items()
            responses = {code: dict(response) for code in statuses}
        for code, response in responses.items():
            response["description"] = response.get("description") or HTTPStatus(int(code)).phrase
        return responses

    def get_operation(self, path, method):
        operation = super().get_operation(path, method)
        operation["parameters"] += list(self._action().parameters)
        return operation

    def map_field_validators(self, field, schema):
        super().map_field_validators(field, schema)
        if any(isinstance(v, URLValidator) for v in field.validators):
            # Django's URL regex uses Python-only syntax; "format: uri" says it all.
            schema.pop("pattern", None)

    def map_serializer(self, serializer):
        schema = super().map_serializer(serializer)
        for prop in schema.get("properties", {}).values():
            if prop.get("readOnly"):
                # A default tells a client what it may leave out when writing: nothing, for
                # a field it cannot write (and some validators refuse the pair).
                prop.pop("default", None)
        return schema

    def map_field(self, field):
        if isinstance(field, serializers.JSONField):
            return {"description": "Any JSON value."}  # an object, an array, a string, ...
        return super().map_field(field)


class ViewSchema:
    """A view's ``schema``: ours under DRF's generator, the project's class otherwise.

    A descriptor, as DRF's own ``DefaultSchema`` is: each access returns an
    inspector bound to the view instance. ``options`` are those of
    :class:`WebhooksAutoSchema` (``singular``, ``plural``, ``tags``).
    """

    def __init__(self, **options) -> None:
        self.options = options

    def ours(self) -> WebhooksAutoSchema:
        return WebhooksAutoSchema(**self.options)

    def __get__(self, instance, owner):
        if instance is None:
            return self
        project_class = api_settings.DEFAULT_SCHEMA_CLASS
        if project_class is None:  # the project turned schemas off
            return None
        if issubclass(project_class, AutoSchema):
            return self.ours().__get__(instance, owner)
        load_spectacular_extensions()
        return project_class().__get__(instance, owner)


@cache
def load_spectacular_extensions() -> None:
    """Register the app's drf-spectacular extensions, if drf-spectacular is installed."""
    if find_spec("drf_spectacular") is not None:
        import webhooks_app.api.spectacular  # noqa: F401 - defining them registers them


class WebhooksSchemaGenerator(SchemaGenerator):
    """DRF's generator, with each view described by :class:`WebhooksAutoSchema` whatever the
    project's ``DEFAULT_SCHEMA_CLASS`` (the app's ``schema/`` routes are DRF documents)."""

    def create_view(self, callback, method, request=None):
        view = super().create_view(callback, method, request)
        declared = inspect.getattr_static(view, "schema", None)
        if isinstance(declared, ViewSchema):
            view.schema = declared.ours().__get__(view, type(view))
        return view


class SchemaView(ConfiguredPermissionsMixin, DRFSchemaView):
    """Serves the OpenAPI document of the API's routes (``patterns``), JSON by default.

    ``?format=openapi`` gives YAML. Paths carry the prefix the API is mounted at.
    """

    patterns = None
    root_view_name = "api-root"  # the API's root view: its path is the mount point
    renderer_classes = [JSONOpenAPIRenderer, OpenAPIRenderer]
    title = "webhooks_app API"
    description = "Manage webhook endpoints, events, deliveries and inbound events."

    def get(self, request, *args, **kwargs):
        from webhooks_app import __version__

        namespace = request.resolver_match.namespace
        try:
            root = f"{namespace}:{self.root_view_name}" if namespace else self.root_view_name
            mount = reverse(root)
        except NoReverseMatch:
            mount = "/"
        generator = WebhooksSchemaGenerator(
            title=self.title,
            description=self.description,
            version=__version__,
            patterns=self.patterns,
            url=mount,
        )
        return Response(generator.get_schema(request, public=True))
