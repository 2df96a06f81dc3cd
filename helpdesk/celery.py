"""The Celery app: reads CELERY_* from Django settings and finds every app's tasks."""

import os

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings.local")

app = Celery("helpdesk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# SIGHUP reloads settings (helpdesk/settings_reload.py) instead of Celery's
# default, which restarts the whole worker and drops the replies it streams.


@worker_init.connect
def _reload_prepare(**kwargs) -> None:
    from helpdesk.settings_reload import worker_reload_prepare

    worker_reload_prepare()


@worker_ready.connect
@worker_process_init.connect
def _gc_tune(**kwargs) -> None:
    # Where the tasks run: the worker itself with the threads, solo and gevent pools
    # (worker_ready), each child with prefork, forked before the parent is ready
    # (worker_process_init). With Python's GC thresholds the worker's full
    # collections paused every reply it streamed for 130-150 ms
    # (benchmarks/README.md, "tenth run").
    from helpdesk.runtime_tuning import gc_tune

    gc_tune()


@worker_ready.connect
def _sighup_reloads_settings(**kwargs) -> None:
    # Celery installs its restart handler as the worker starts; `worker_ready`
    # comes after that, so this one replaces it.
    from helpdesk.settings_reload import sighup_reload_install

    sighup_reload_install()


@task_prerun.connect
def _pool_child_reload(**kwargs) -> None:
    from helpdesk.settings_reload import pool_reload_if_signalled

    pool_reload_if_signalled()
