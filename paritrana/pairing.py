"""Pairing a phone with its field-kit key: a link to the kit at /kit/ carrying the key, and the same link as a QR
code for the terminal.

The key rides in the URL's fragment (`#pair=…`), which a browser never sends to a server, so it reaches no access
log or proxy; the kit stores it and replaces the address at once, so it stays in no history either.
"""

from __future__ import annotations

import io
from urllib.parse import quote

import segno


def pairing_link(kit_url: str, secret: str) -> str:
    base = kit_url if kit_url.endswith("/") else kit_url + "/"
    return f"{base}#pair={quote(secret, safe='')}"


def terminal_qr(link: str) -> str:
    """The link as a QR code drawn with half-block characters, dark on light, with its quiet zone."""
    out = io.StringIO()
    # Error correction M survives a scratched screen or a glare on the laptop without making the code too dense.
    segno.make_qr(link, error="m", boost_error=False).terminal(out=out, compact=True)
    return out.getvalue()
