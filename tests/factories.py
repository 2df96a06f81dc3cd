import factory
from django.contrib.auth import get_user_model

from conversations.models import Conversation, Message, Visitor
from helpdesk.models import Agent, Site
from kb.models import Entry, SensitiveWord


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda obj: f"{obj.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class StaffUserFactory(UserFactory):
    is_staff = True


class SuperUserFactory(UserFactory):
    is_staff = True
    is_superuser = True


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")
    public_key = factory.Sequence(lambda n: f"pk_test_{n}")
    allowed_origins = "http://shop.test\nhttp://127.0.0.1:8001"


class AgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agent

    user = factory.SubFactory(StaffUserFactory)
    display_name = factory.Sequence(lambda n: f"Agent {n}")


class EntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Entry

    site = factory.SubFactory(SiteFactory)
    question = factory.Sequence(lambda n: f"Question number {n}?")
    answer = factory.Sequence(lambda n: f"Answer number {n}.")


class SensitiveWordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SensitiveWord

    site = None
    word = factory.Sequence(lambda n: f"badword{n}")
    action = SensitiveWord.Action.MASK


class VisitorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visitor

    site = factory.SubFactory(SiteFactory)


class ConversationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conversation

    visitor = factory.SubFactory(VisitorFactory)
    site = factory.LazyAttribute(lambda obj: obj.visitor.site)


class MessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Message

    conversation = factory.SubFactory(ConversationFactory)
    author_kind = Message.Author.VISITOR
    source = Message.Source.VISITOR
    text = factory.Sequence(lambda n: f"message {n}")


class AttachmentFactory(factory.django.DjangoModelFactory):
    """A sent file's row (its stored bytes are not written: for code that reads the row)."""

    class Meta:
        model = "conversations.Attachment"

    message = factory.SubFactory(MessageFactory)
    conversation = factory.SelfAttribute("message.conversation")
    visitor = factory.SelfAttribute("conversation.visitor")
    uploader_kind = "visitor"
    file = factory.Sequence(lambda n: f"attachments/test/{n}.pdf")
    original_name = factory.Sequence(lambda n: f"file-{n}.pdf")
    content_type = "application/pdf"
    size = 1234
    sha256 = "0" * 64


class CannedResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "conversations.CannedResponse"

    site = factory.SubFactory(SiteFactory)
    shortcut = factory.Sequence(lambda n: f"canned{n}")
    text = factory.Sequence(lambda n: f"Canned text {n}.")


class KnowledgeGapFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "kb.KnowledgeGap"

    site = factory.SubFactory(SiteFactory)
    question = factory.Sequence(lambda n: f"unanswered question {n}?")
    reason = "none"


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "helpdesk.WebhookEndpoint"

    site = factory.SubFactory(SiteFactory)
    url = factory.Sequence(lambda n: f"https://hooks.example.com/{n}")
