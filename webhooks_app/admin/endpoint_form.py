"""The endpoint admin's form: credentials masked for users who may not see them.

A masked value (``********``) saved unchanged keeps the stored one.
"""

from __future__ import annotations

from django import forms

from webhooks_app import redaction, validators


class EndpointForm(forms.ModelForm):
    """The endpoint form, validated by the model; credentials masked unless ``show_secrets``."""

    show_secrets = True  # EndpointAdmin.get_form sets it for the request's user

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is None or self.show_secrets:
            return
        if "url" in self.fields:
            self.initial["url"] = redaction.mask_url(self.instance.url)
        if "headers" in self.fields and isinstance(self.instance.headers, dict):
            self.initial["headers"] = redaction.mask_headers(self.instance.headers)

    def clean_url(self):
        url = self.cleaned_data["url"]
        return redaction.unmask_url(url, self.instance.url) if self.instance.pk else url

    def clean_headers(self):
        headers = self.cleaned_data["headers"]
        if self.instance.pk is None:
            return headers
        return validators.unmask_headers(
            headers,
            self.instance.headers,
            url=self.cleaned_data.get("url", ""),
            stored_url=self.instance.url,
        )
