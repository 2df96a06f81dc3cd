"""The bot's fixed sentences. English is the source text; other languages come
from the locale/ catalogues, and a Site may word `fallback` and `offline` itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

if TYPE_CHECKING:
    from helpdesk.models import Site

TEXTS = {
    "fallback": _(
        "Sorry, I can't answer that right now. I've asked a colleague to help; "
        "someone will reply here shortly."
    ),
    "no_llm": _(
        "I don't have an answer for that in our help center. I've passed your question "
        "to a colleague, who will reply here shortly."
    ),
    "human_requested": _("I've asked a colleague to join. Someone will be with you shortly."),
    "offline": _(
        "Our team is offline right now{hours}. Leave your email address here and we'll "
        "reply as soon as we're back."
    ),
    "blocked": _(
        "Sorry, your message couldn't be processed because it contains content we can't "
        "accept. Please rephrase it."
    ),
    "escalated": _("Thanks for telling us. A colleague will take a personal look and reply here."),
    # Filled into {hours} of "offline".
    "offline_hours": pgettext_lazy("offline message", "; we're available {hours}"),
}

# The bot speaks the two languages the widget does; Django's code for each.
_DJANGO_LANGUAGE = {"en": "en", "zh": "zh-hans"}


def language_of(code: str) -> str:
    return "zh" if (code or "").lower().startswith("zh") else "en"


def bot_text(key: str, *, language: str, site: Site | None = None, **values: str) -> str:
    lang = language_of(language)
    text = site.bot_message(key, language=lang) if site is not None else ""
    if not text:
        with translation.override(_DJANGO_LANGUAGE[lang]):
            text = str(TEXTS[key])
    if values:
        # A site's own wording may leave a placeholder out, or contain other braces.
        for name, value in values.items():
            text = text.replace("{" + name + "}", value)
    return text
