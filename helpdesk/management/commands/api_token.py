"""Print a staff user's API token (`Authorization: Token <key>`), creating it if needed."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from rest_framework.authtoken.models import Token


@transaction.atomic
def api_token_get_or_create(*, user, rotate: bool = False) -> Token:
    """The user's one token; with rotate, a new key replaces the old (which stops working)."""
    if rotate:
        Token.objects.filter(user=user).delete()
    token, _ = Token.objects.get_or_create(user=user)
    return token


class Command(BaseCommand):
    help = "Print USERNAME's agent-API token, creating it if needed; --rotate replaces it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="Replace the key; the old one stops working."
        )

    def handle(self, *args, username: str, rotate: bool, **options) -> None:
        user = (
            get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        )
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not (user.is_active and user.is_staff):
            raise CommandError(
                f"{username!r} is not an active staff member: the API would refuse the token. "
                "Tick 'Staff status' in the admin first."
            )
        token = api_token_get_or_create(user=user, rotate=rotate)
        self.stdout.write(token.key)
