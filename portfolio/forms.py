"""The import's upload form: CSV files named after their tables, or one workbook, and the
cut-over date."""

from __future__ import annotations

import re
from pathlib import Path

from django import forms
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portfolio.importing import TABLE_ORDER, cut_over_problem

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_CSV_NAME = re.compile(r"[a-z_]+\.csv")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class ImportUploadForm(forms.Form):
    files = MultipleFileField(
        label=gettext_lazy("Files"),
        help_text=gettext_lazy(
            "Several CSV files named after their tables (loans.csv, repayments.csv …), or one "
            "XLSX workbook with one sheet per table. At most 50 MB in all."
        ),
        widget=MultipleFileInput(attrs={"accept": ".csv,.xlsx", "multiple": True}),
    )
    as_of = forms.DateField(
        label=gettext_lazy("Cut-over date"),
        required=False,
        initial=timezone.localdate,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=gettext_lazy(
            "The files are the book as it stood at the end of this day: no date in them may be "
            "later, and the import classifies the loans and plans their inspections as of it. "
            "Empty: today."
        ),
    )

    def clean_as_of(self):
        as_of = self.cleaned_data["as_of"] or timezone.localdate()
        problem = cut_over_problem(as_of)
        if problem:
            raise forms.ValidationError(problem)
        return as_of

    def clean_files(self):
        files = self.cleaned_data["files"]
        if not files:
            raise forms.ValidationError(_("Choose the files to import."))
        if sum(f.size for f in files) > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("The files are larger than 50 MB in all."))
        names = [Path(f.name).name.lower() for f in files]
        workbooks = [n for n in names if n.endswith(".xlsx")]
        if workbooks and len(files) > 1:
            raise forms.ValidationError(_("Upload one workbook alone, or CSV files only."))
        if not workbooks:
            wrong = [n for n in names if not _CSV_NAME.fullmatch(n)]
            if wrong:
                raise forms.ValidationError(
                    _("Name each CSV file after its table (%(tables)s); not: %(names)s.")
                    % {"tables": ", ".join(TABLE_ORDER), "names": ", ".join(wrong)}
                )
            if len(set(names)) != len(names):
                raise forms.ValidationError(_("A table was chosen twice."))
        return files
