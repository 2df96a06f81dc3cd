from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from helpdesk.config_versions import SENSITIVE_WORDS_SCOPE, config_version_bump, kb_scope
from kb.models import Entry, SensitiveWord


@receiver([post_save, post_delete], sender=Entry)
def entry_changed(sender, instance: Entry, **kwargs) -> None:
    site_id = instance.site_id
    transaction.on_commit(lambda: config_version_bump(scope=kb_scope(site_id)))


@receiver(post_save, sender=Entry)
def entry_saved(sender, instance: Entry, raw: bool = False, **kwargs) -> None:
    from kb.services import entry_vectors_schedule, vectors_deferred

    if raw or vectors_deferred():
        return
    entry_id = instance.pk
    transaction.on_commit(lambda: entry_vectors_schedule(entry_ids=[entry_id]))


@receiver(m2m_changed, sender=Entry.tags.through)
def entry_tags_changed(sender, instance, **kwargs) -> None:
    if isinstance(instance, Entry):
        entry_changed(sender=Entry, instance=instance)


@receiver([post_save, post_delete], sender=SensitiveWord)
def sensitive_word_changed(sender, instance: SensitiveWord, **kwargs) -> None:
    transaction.on_commit(lambda: config_version_bump(scope=SENSITIVE_WORDS_SCOPE))
