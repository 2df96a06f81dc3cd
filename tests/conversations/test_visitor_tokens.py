"""Visitor tokens survive a SECRET_KEY rotation while the old key is a fallback."""

import uuid

from django.test import override_settings

from conversations.visitor_tokens import visitor_token_issue, visitor_token_read

OLD = "old-secret-key-" + "x" * 40
NEW = "new-secret-key-" + "y" * 40


def test_a_token_signed_with_the_old_key_reads_while_the_old_key_is_a_fallback():
    anonymous_id = uuid.uuid4()
    with override_settings(SECRET_KEY=OLD):
        token = visitor_token_issue(anonymous_id=anonymous_id, site_id=7)
    with override_settings(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD]):
        claim = visitor_token_read(token=token, site_id=7)
        assert claim is not None and claim.anonymous_id == anonymous_id
        # New tokens are signed with the new key: they outlive the fallback.
        fresh = visitor_token_issue(anonymous_id=anonymous_id, site_id=7)
    with override_settings(SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[]):
        assert visitor_token_read(token=token, site_id=7) is None
        assert visitor_token_read(token=fresh, site_id=7) is not None
