"""A visit's attachment is served under a name ending as what the file is (issue 16): a PDF
uploaded as "evil.html" downloads as "evil.pdf", never as a page a browser would open."""

from __future__ import annotations

import io
import itertools
from urllib.parse import quote

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from postloan.fieldwork import services as visits
from postloan.fieldwork.uploads import download_name
from postloan.models import Inspection, ReportAttachment

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n%%EOF\n"
_slots = itertools.count(1)


def _report(loan):
    inspection = Inspection.objects.create(
        loan=loan,
        kind="routine",
        slot=f"download-names-{next(_slots)}",
        due_on=timezone.localdate(),
        assigned_to=loan.managing_officer,
        reason="sample",
    )
    return visits.report_start(inspection=inspection, by=inspection.assigned_to)


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (10, 120, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def _upload(client, report, name: str, data: bytes, claimed_type: str) -> ReportAttachment:
    response = client.post(
        reverse("postloan:attachment_upload", args=[report.pk]),
        {"file": SimpleUploadedFile(name, data, content_type=claimed_type)},
    )
    assert response.status_code == 302
    return ReportAttachment.objects.latest("id")


def _download(client, attachment):
    response = client.get(reverse("postloan:attachment", args=[attachment.pk]))
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    return response


def test_a_pdf_named_html_is_saved_and_served_as_pdf(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    attachment = _upload(client, report, "evil.html", PDF, "text/html")
    assert attachment.original_name == "evil.pdf"

    response = _download(client, attachment)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="evil.pdf"'
    assert b"".join(response.streaming_content) == PDF


def test_a_chinese_name_keeps_its_stem_in_the_utf8_form(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    attachment = _upload(client, report, "报告.html", PDF, "text/html")

    response = _download(client, attachment)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f"attachment; filename*=utf-8''{quote('报告.pdf')}"


def test_a_jpeg_named_pdf_is_served_inline_as_jpg(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    attachment = _upload(client, report, "x.pdf", _jpeg(), "application/pdf")

    response = _download(client, attachment)
    assert response["Content-Type"] == "image/jpeg"
    assert response["Content-Disposition"] == 'inline; filename="x.jpg"'


def test_a_right_extension_is_kept_as_it_was(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    attachment = _upload(client, report, "Site Photo.JPEG", _jpeg(), "image/jpeg")
    assert attachment.original_name == "Site Photo.JPEG"
    response = _download(client, attachment)
    assert response["Content-Disposition"] == 'inline; filename="Site Photo.JPEG"'


def test_a_row_stored_before_the_fix_is_served_under_the_right_name(client, loan, officer):
    report = _report(loan)
    client.force_login(officer)
    attachment = _upload(client, report, "deed.pdf", PDF, "application/pdf")
    # As saved before names were corrected at upload, with the type the browser claimed.
    ReportAttachment.objects.filter(pk=attachment.pk).update(
        original_name="evil.html", content_type="text/html"
    )

    response = _download(client, attachment)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="evil.pdf"'


@pytest.mark.parametrize(
    ("name", "content_type", "served"),
    [
        ("evil.html", "application/pdf", "evil.pdf"),
        ("报告.HTML", "application/pdf", "报告.pdf"),
        ("x.pdf", "image/jpeg", "x.jpg"),
        ("x.jpeg", "image/jpeg", "x.jpeg"),
        ("map.png", "image/png", "map.png"),
        ("scan", "application/pdf", "scan.pdf"),
        ("C:\\fakepath\\site.gif", "image/png", "site.png"),
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ('say "hi"\r\n.pdf', "application/pdf", "say hi.pdf"),
        ("invoice\u202efdp.exe", "application/pdf", "invoicefdp.pdf"),
        (".html", "application/pdf", "html.pdf"),
        ("", "image/png", "upload.png"),
        ("a.html", "text/html", "a.bin"),
    ],
)
def test_the_served_name(name, content_type, served):
    assert download_name(name, content_type) == served


def test_a_long_name_keeps_its_extension_within_the_column():
    name = download_name("长" * 300 + ".html", "application/pdf")
    assert len(name) == 255
    assert name.endswith("长.pdf")
