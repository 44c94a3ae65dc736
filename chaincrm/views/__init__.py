"""Read models for people: a customer's timeline (``timeline``), the customer's own records
(``own_records``, ``chaincrm me``) and record verification against any node (``verify``)."""
