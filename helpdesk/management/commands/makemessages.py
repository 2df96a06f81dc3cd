"""Django's makemessages with this project's defaults.

`python manage.py makemessages -l zh_Hans` scans only the shipped code (not the
virtualenv, tests, benchmarks or docs) and writes helpdesk/locale without source
line numbers, so a catalogue changes only when a string does.
"""

from django.core.management.commands import makemessages

IGNORED = [".venv/*", "venv/*", "tests/*", "benchmarks/*", "docs/*", "staticfiles/*", "build/*"]


class Command(makemessages.Command):
    def handle(self, *args, **options) -> None:
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *IGNORED]
        options["no_location"] = True
        super().handle(*args, **options)
