"""Forms of the staff pages."""

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

MAX_ROSTER_BYTES = 2 * 1024 * 1024


class RosterImportForm(forms.Form):
    file = forms.FileField(
        label=_("Roster file (CSV)"),
        help_text=_("Columns: email, sector, and optionally role and language. UTF-8."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        upload = cleaned.get("file")
        if upload is None:
            return cleaned
        if upload.size > MAX_ROSTER_BYTES:
            raise forms.ValidationError(_("The file is larger than 2 MB."))
        try:
            cleaned["content"] = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise forms.ValidationError(_("The file is not UTF-8 text. Save it as CSV UTF-8.")) from error
        return cleaned
