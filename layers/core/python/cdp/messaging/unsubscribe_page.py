"""The unsubscribe routes' HTTP shapes: the POSTed form (RFC 8058 says one-click bodies SHOULD be
multipart/form-data and MAY be application/x-www-form-urlencoded, so both are read), and the HTML: a small,
self-contained preference page (no script, no external resource) and the short answer after a change, with headers
that keep the token in the URL from leaking (no referrer, no cache) and a Content-Security-Policy allowing nothing
but the page's own inline style and its form."""

from __future__ import annotations

import html
from email.parser import BytesParser
from email.policy import HTTP
from urllib.parse import parse_qs

from cdp.errors import Invalid, TooLarge
from cdp.messaging.unsubscribe import Preferences

MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 20

CHANNEL_NAMES = {"email": "Email", "sms": "Text messages (SMS)", "push": "App notifications"}
PURPOSE_NAMES = {"marketing": "offers and news"}
SECURITY_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "label{display:block;margin:.5rem 0}button{margin-top:1rem;padding:.5rem 1rem}"
)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def preference_page(preferences: Preferences, form_action: str) -> str:
    """The page: one checkbox per channel and purpose offered, ticked where the person currently agrees."""
    boxes = "".join(
        f'<label><input type="checkbox" name="consent" value="{html.escape(key)}"{" checked" if granted else ""}> '
        f"{html.escape(CHANNEL_NAMES[key.split(':')[0]])}: {html.escape(PURPOSE_NAMES[key.split(':')[1]])}</label>"
        for key, granted in preferences.choices.items()
    )
    form = (
        f'<p>Choose what we may send you. Untick to stop.</p><form method="post" action="{html.escape(form_action)}">'
        f'<input type="hidden" name="form" value="preferences">{boxes}<button type="submit">Save</button></form>'
    )
    return _page("Your message preferences", form)


def changed_page(message: str) -> str:
    return _page("Preferences saved", f"<p>{html.escape(message)}</p>")


def _multipart_fields(body: bytes, content_type: str) -> dict[str, list[str]]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise Invalid("malformed multipart form")
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            raise Invalid("malformed multipart form")
        fields.setdefault(name, []).append(payload.decode("utf-8", errors="strict"))
    return fields


def form_fields(body: bytes, content_type: str) -> dict[str, list[str]]:
    """The POSTed form's fields (each with its values), urlencoded or multipart; a 4xx for anything else."""
    if len(body) > MAX_FORM_BYTES:
        raise TooLarge("form larger than 16 KB")
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        if media_type == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8", errors="strict"), keep_blank_values=True, strict_parsing=bool(body),
                              max_num_fields=MAX_FORM_FIELDS)
        elif media_type == "multipart/form-data":
            fields = _multipart_fields(body, content_type)
        else:
            raise Invalid("send the form as application/x-www-form-urlencoded or multipart/form-data")
    except (UnicodeError, ValueError) as error:
        raise Invalid("malformed form") from error
    if len(fields) > MAX_FORM_FIELDS:
        raise Invalid("too many form fields")
    return fields
