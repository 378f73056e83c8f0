"""The portal's routes: ``path("webhooks/", include("webhooks_app.portal.urls"))``."""

from django.urls import path

from webhooks_app.portal import confirmation, views

app_name = "webhooks_portal"

urlpatterns = [
    path("enter/<str:token>/", views.enter, name="enter"),
    path("leave/", views.leave, name="leave"),
    path("", views.endpoint_list, name="endpoints"),
    path("endpoints/add/", views.endpoint_add, name="endpoint_add"),
    path("endpoints/<int:endpoint_id>/", views.endpoint_detail, name="endpoint"),
    path("endpoints/<int:endpoint_id>/edit/", views.endpoint_edit, name="endpoint_edit"),
    path("endpoints/<int:endpoint_id>/delete/", views.endpoint_delete, name="endpoint_delete"),
    path("endpoints/<int:endpoint_id>/disable/", views.endpoint_disable, name="endpoint_disable"),
    path("endpoints/<int:endpoint_id>/enable/", views.endpoint_enable, name="endpoint_enable"),
    path("endpoints/<int:endpoint_id>/rotate/", views.endpoint_rotate, name="endpoint_rotate"),
    path("endpoints/<int:endpoint_id>/secret/", views.endpoint_reveal, name="endpoint_reveal"),
    path("endpoints/<int:endpoint_id>/test/", views.endpoint_test, name="endpoint_test"),
    path("endpoints/<int:endpoint_id>/retry/", views.endpoint_retry, name="endpoint_retry"),
    path("endpoints/<int:endpoint_id>/example/", views.endpoint_example, name="endpoint_example"),
    path(
        "endpoints/<int:endpoint_id>/confirm-contact/",
        confirmation.resend_confirmation,
        name="endpoint_confirm_contact",
    ),
    path("deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery"),
    path("deliveries/<int:delivery_id>/retry/", views.delivery_retry, name="delivery_retry"),
    path("event-types/", views.catalog, name="event_types"),
    path("contact/confirm/<str:token>/", confirmation.confirm_contact, name="contact_confirm"),
]
