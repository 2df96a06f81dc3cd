import pytest

from kb.models import EntryVector
from kb.tasks import entry_vectors_refresh_task
from tests.factories import EntryFactory

pytestmark = pytest.mark.django_db


def test_task_tolerates_gone_entries_and_stores_the_rest(semantic):
    entry = EntryFactory()
    assert entry_vectors_refresh_task.apply(args=[[entry.pk, 123_456]]).get() == 1
    assert EntryVector.objects.filter(entry=entry).exists()


def test_task_has_bounded_retries_and_time_limits():
    assert entry_vectors_refresh_task.max_retries == 3
    assert entry_vectors_refresh_task.soft_time_limit < entry_vectors_refresh_task.time_limit


def test_celery_runner_enqueues_instead_of_embedding(semantic, settings, monkeypatch):
    from kb import services

    settings.HELPDESK_LLM_RUNNER = "celery"
    sent: list[list[int]] = []
    monkeypatch.setattr(entry_vectors_refresh_task, "delay", lambda ids: sent.append(ids))
    services.entry_vectors_schedule(entry_ids=[5, 6])
    assert sent == [[5, 6]]
