"""Builds email as raw MIME (text and HTML alternatives); marketing email carries the RFC 2369 List-Unsubscribe and
RFC 8058 one-click List-Unsubscribe-Post headers."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import make_msgid

from cdp.messaging.ports import RenderedMessage

# URLs in List-Unsubscribe must stay readable, not RFC 2047-encoded by folding (RFC 5322 allows 998 chars).
UNFOLDED_HEADERS = policy.SMTP.clone(max_line_length=998)


def email_message(sender: str, recipient: str, rendered: RenderedMessage) -> bytes:
    message = EmailMessage(policy=UNFOLDED_HEADERS)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    if rendered.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{rendered.unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message.as_bytes()
