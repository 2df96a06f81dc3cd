"""An attachment's file goes when its row goes, whatever deleted the row.

Rows are deleted by cascade more often than one by one: a conversation, a
visitor or a Site deleted in the admin takes its attachments with it. Django
collects those rows and sends `post_delete` for each, so the file is removed
here, once the deletion has committed (a rolled-back delete keeps its files).
"""

import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from conversations.models import Attachment

logger = logging.getLogger(__name__)


def attachment_file_delete(*, name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:
        # The row is gone either way; a file left behind is only disk space.
        logger.warning("could not delete attachment file %s", name, exc_info=True)


@receiver(post_delete, sender=Attachment, dispatch_uid="attachment_file_delete")
def _attachment_deleted(instance: Attachment, **_kwargs) -> None:
    name = instance.file.name
    if name:
        transaction.on_commit(lambda: attachment_file_delete(name=name))
