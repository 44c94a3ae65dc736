"""The e-mail that hands a customer their offer: the discount, its expiry and the portal link.

Sent over the SMTP settings of the reminder schedule (:mod:`chaincrm.automation.mailer`), only to
a customer who consents to marketing (an offer is marketing). The address is read from the
customer's encrypted profile by the issuing manager; it is never logged. The Message-ID is derived
from the offer's digest, so a copy sent twice is one message to a receiving system.
"""

from __future__ import annotations

import time
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from chaincrm.contracts.offers import Offer

SUBJECT = "A {percent}% discount on your next deal"
BODY = """Hello {name},

Thanks to your history with us, you have a {percent}% discount on your next deal, valid until
{expires} (UTC){uses}.

Accept it with your own wallet on this page:

{link}

The offer is signed by {issuer}; it can be accepted only from the wallet bound to your account.
"""


def offer_message(offer: Offer, *, to: str, name: str, link: str, sender: str) -> EmailMessage:
    uses = "" if offer.max_uses == 1 else f", for up to {offer.max_uses} deals"
    fields = {
        "name": name,
        "percent": offer.discount_percent,
        "expires": time.strftime("%Y-%m-%d %H:%M", time.gmtime(offer.expiry)),
        "uses": uses,
        "link": link,
        "issuer": offer.issuer,
    }
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = SUBJECT.format_map(fields)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "chaincrm.invalid"
    message["Message-ID"] = f"<offer.{offer.digest.hex()}@{domain}>"
    message["Date"] = formatdate(usegmt=True)
    message["X-Chaincrm-Offer"] = "0x" + offer.digest.hex()
    message.set_content(BODY.format_map(fields))
    return message


__all__ = ["offer_message"]
