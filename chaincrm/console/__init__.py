"""The staff console (``chaincrm serve --staff``): the pipeline board, customers, invoices and the
report in the browser, for one staff member whose keystore the server unlocked at start.

Routes mounted at ``/staff`` inside the customer portal's app:

============  ====================================================================================
``app``       :func:`create_console`: the routes and what they share
``auth``      the access token of the printed URL, the session cookie, CSRF
``pages``     the HTML pages
``api``       the JSON actions (moving a deal)
``moves``     checking and sending a move, decoding a refusal
``reads``     the index read back for the pages
``names``     customers' names decrypted with the staff key, in memory only
``report``    the report's figures and charts, kept per indexed block
``state``     the console's shared objects
============  ====================================================================================
"""

from __future__ import annotations

from chaincrm.console.app import create_console

__all__ = ["create_console"]
