"""Photos and documents of a visit: checked by content, images re-encoded, stored under
server-generated names (docs/domain.md §5, issue 7).

A file is accepted by what it is, not by its name or the browser's claim: the first
bytes must be JPEG, PNG or PDF, and an image must decode. Images are re-encoded from their
pixels, which drops EXIF (GPS, device) metadata and anything appended after the image
data; PDFs are stored as they are and always served as downloads.

The name a file is served under ends in the extension of what it is (download_name), so
a PDF uploaded as "evil.html" is saved and opened as "evil.pdf", never as a web page.
"""

from __future__ import annotations

import io
import unicodedata
import uuid

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageOps, UnidentifiedImageError

SIGNATURES = [
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"%PDF-", "application/pdf", "pdf"),
]
# Other spellings of an extension that already names the type rightly.
SAME_EXTENSIONS = {"image/jpeg": {"jpg", "jpeg"}}
UNKNOWN_TYPE = ("application/octet-stream", "bin")
MAX_NAME = 255  # ReportAttachment.original_name
MAX_PIXELS = 50_000_000  # a larger "photo" is a decompression bomb, not a visit


def sniff(head: bytes) -> tuple[str, str] | None:
    for signature, content_type, extension in SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    return None


def download_name(name: str, content_type: str) -> str:
    """The uploader's file name, without any folder or control characters, ending in the
    extension of `content_type` (the sniffed type): "evil.html" holding a PDF becomes
    "evil.pdf", "photo.JPEG" stays as it is."""
    extension = next(
        (ext for _sig, kind, ext in SIGNATURES if kind == content_type), UNKNOWN_TYPE[1]
    )
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        char
        for char in name
        if not unicodedata.category(char).startswith("C") and char not in '<>:"|?*'
    )
    stem, dot, suffix = name.strip(" .").rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    if suffix.lower() not in SAME_EXTENSIONS.get(content_type, {extension}):
        suffix = extension
    stem = stem.strip(" .")[: MAX_NAME - len(suffix) - 1] or "upload"
    return f"{stem}.{suffix}"


def _pixels_only(image: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """A new image made of the pixels alone. Saving the decoded image itself would carry
    over what Pillow keeps in `info` (a JPEG comment segment, for one): any payload hidden
    there would survive the re-encoding."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image.mode not in ("L", "RGB", "RGBA"):
        image = image.convert("RGBA" if has_alpha and keep_alpha else "RGB")
    elif image.mode == "RGBA" and not keep_alpha:
        image = image.convert("RGB")
    return Image.frombytes(image.mode, image.size, image.tobytes())


def _reencode(data: bytes, content_type: str) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.width * probe.height > MAX_PIXELS:
                raise ValidationError(_("The image is too large to be a photo."), code="pixels")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image = ImageOps.exif_transpose(image)  # keep the orientation the EXIF gave
            pixels = _pixels_only(image, keep_alpha=content_type == "image/png")
            output = io.BytesIO()
            if content_type == "image/jpeg":
                pixels.save(output, "JPEG", quality=85, optimize=True)
            else:
                pixels.save(output, "PNG", optimize=True)
            return output.getvalue()
    except ValidationError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as error:
        raise ValidationError(
            _("The file is not a readable image."), code="not_an_image"
        ) from error


def clean_upload(upload, *, max_megabytes: int) -> tuple[ContentFile, str, int]:
    """Return (stored content under a new name, content type, size) or raise."""
    if upload.size > max_megabytes * 1024 * 1024:
        raise ValidationError(
            _("The file is %(size).1f MB; the limit is %(limit)d MB.")
            % {"size": upload.size / 1024 / 1024, "limit": max_megabytes},
            code="too_large",
        )
    data = upload.read()
    kind = sniff(data[:16])
    if kind is None:
        raise ValidationError(
            _("Only JPEG and PNG photos and PDF documents can be attached."), code="type"
        )
    content_type, extension = kind
    if content_type.startswith("image/"):
        data = _reencode(data, content_type)
    name = f"{uuid.uuid4().hex}.{extension}"
    return ContentFile(data, name=name), content_type, len(data)
