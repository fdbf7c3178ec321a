"""byom.telephony webhook receiver for Vapi server messages.

Shipped inside the collection's ``webhooks`` role (roles/webhooks/files) and copied to the VPS
as plain files: it needs only the Python standard library and Debian's python3-redis, so the
VPS needs neither pip nor a compiler. See docs/webhooks.md.
"""

__version__ = "1.0.0"
