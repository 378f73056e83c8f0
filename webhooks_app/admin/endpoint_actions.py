"""The endpoint admin's actions: test event, secret rotation, enable, disable, retry.

The change page offers three of them as buttons (:mod:`~webhooks_app.admin.object_actions`):
send a test event, rotate the secret (after a confirmation), retry failed deliveries now.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from webhooks_app import conf, operations
from webhooks_app.admin import display
from webhooks_app.admin.object_actions import ObjectActionsMixin
from webhooks_app.models import Delivery, Endpoint


class EndpointActionsMixin(ObjectActionsMixin):
    """For ``EndpointAdmin``: its list's actions, the permissions they need, and the
    change page's buttons."""

    actions = (
        "send_test_event",
        "rotate_secret",
        "enable",
        "disable",
        "retry_failed_deliveries",
    )
    object_actions = ("send_test_event", "rotate_secret", "retry_failed_deliveries")
    confirm_actions = ("rotate_secret",)

    def object_action_label(self, action: str, description) -> str:
        if action == "retry_failed_deliveries":
            return gettext("Retry failed deliveries now")
        return super().object_action_label(action, description)

    def confirmation(self, request, obj: Endpoint, action: str) -> list[str]:
        """Rotating: how long the current secret keeps signing; and that a previous secret
        still in its grace period stops signing at once."""
        hours = conf.get("SECRET_ROTATION_GRACE") / 3600
        paragraphs = [
            gettext(
                "A new secret signs every delivery from now on; the current one also signs "
                "deliveries for %(hours)s hours, while receivers switch to the new one."
            )
            % {"hours": f"{hours:g}"}
        ]
        expires = obj.previous_secret_expires_at
        if obj.previous_secret and expires and expires > timezone.now():
            paragraphs.append(
                gettext(
                    "The secret rotated out before, which still signs deliveries until "
                    "%(time)s, stops signing at once: receivers still verifying with it "
                    "will refuse deliveries."
                )
                % {"time": display.moment(expires)}
            )
        return paragraphs

    def has_send_test_permission(self, request) -> bool:
        """A test event is an event: sending one needs ``add_event``."""
        return request.user.has_perm(f"{self.opts.app_label}.add_event")

    def has_retry_permission(self, request) -> bool:
        """Retrying changes deliveries: ``change_delivery``, as in the deliveries' admin."""
        return request.user.has_perm(f"{self.opts.app_label}.change_delivery")

    @admin.action(description=_("Send a test event"), permissions=["send_test"])
    def send_test_event(self, request, queryset):
        sent = [operations.send_test_event(endpoint) for endpoint in queryset]
        if len(sent) == 1:
            delivery = sent[0]
            self.message_user(
                request,
                format_html(
                    "{} {}",
                    gettext("Test event %(event)s queued for %(url)s.")
                    % {"event": delivery.event_id, "url": delivery.endpoint},
                    display.admin_link(delivery, gettext("View the delivery")),
                ),
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                ngettext(
                    "Test event queued for %(count)d endpoint.",
                    "Test events queued for %(count)d endpoints.",
                    len(sent),
                )
                % {"count": len(sent)},
                messages.SUCCESS,
            )
        waiting = sum(not delivery.endpoint.is_active for delivery in sent)
        if waiting:
            self.message_user(
                request,
                ngettext(
                    "%(count)d endpoint is disabled: its test delivery waits until it is "
                    "enabled again.",
                    "%(count)d endpoints are disabled: their test deliveries wait until they "
                    "are enabled again.",
                    waiting,
                )
                % {"count": waiting},
                messages.WARNING,
            )

    @admin.action(description=_("Rotate the secret"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        count = operations.rotate_secrets(queryset)
        hours = conf.get("SECRET_ROTATION_GRACE") / 3600
        self.message_user(
            request,
            ngettext(
                "Rotated the secret of %(count)d endpoint; the previous secret also signs "
                "deliveries for %(hours)s hours.",
                "Rotated the secrets of %(count)d endpoints; the previous secrets also sign "
                "deliveries for %(hours)s hours.",
                count,
            )
            % {"count": count, "hours": f"{hours:g}"},
            messages.SUCCESS,
        )

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request, queryset):
        selected = len(queryset)
        count = operations.enable_endpoints(queryset)
        self._report(
            request,
            count,
            selected,
            ngettext(
                "Enabled %(count)d endpoint; its pending deliveries go out on the next sweep.",
                "Enabled %(count)d endpoints; their pending deliveries go out on the next sweep.",
                count,
            ),
            gettext("%(count)d already active."),
        )

    @admin.action(description=_("Disable"), permissions=["change"])
    def disable(self, request, queryset):
        selected = len(queryset)
        count = operations.disable_endpoints(queryset, disabled_by(request))
        self._report(
            request,
            count,
            selected,
            ngettext("Disabled %(count)d endpoint.", "Disabled %(count)d endpoints.", count),
            gettext("%(count)d already disabled."),
        )

    @admin.action(description=_("Retry failed deliveries"), permissions=["retry"])
    def retry_failed_deliveries(self, request, queryset):
        failed = Delivery.objects.filter(endpoint__in=queryset, status=Delivery.Status.FAILED)
        count = operations.retry_deliveries(failed)
        level = messages.SUCCESS if count else messages.WARNING
        self.message_user(
            request,
            ngettext(
                "Retrying %(count)d failed delivery now.",
                "Retrying %(count)d failed deliveries now.",
                count,
            )
            % {"count": count},
            level,
        )
        if count and queryset.filter(is_active=False).exists():
            self.message_user(
                request,
                gettext("Deliveries to disabled endpoints wait until the endpoint is enabled."),
                messages.WARNING,
            )

    def _report(self, request, count, selected, done, skipped) -> None:
        message = done % {"count": count}
        if selected > count:
            message += " " + skipped % {"count": selected - count}
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)


def disabled_by(request) -> str:
    """The reason recorded when an operator disables an endpoint."""
    return gettext("Disabled by %(user)s in the admin") % {
        "user": request.user.get_username() or gettext("an operator")
    }
