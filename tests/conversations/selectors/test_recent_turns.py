import pytest

from conversations.models import Message
from conversations.selectors import conversation_recent_turns
from conversations.services import visitor_message_receive
from tests.factories import ConversationFactory, MessageFactory


@pytest.mark.django_db
def test_turns_are_the_last_five_shown_messages_oldest_first():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, text="first")
    for n in range(4):
        MessageFactory(conversation=conversation, text=f"visitor {n}")
        MessageFactory(
            conversation=conversation,
            text=f"bot {n}",
            author_kind=Message.Author.BOT,
            source=Message.Source.KB,
        )
    MessageFactory(
        conversation=conversation,
        text="note for agents",
        author_kind=Message.Author.AGENT,
        source=Message.Source.AGENT,
        is_internal=True,
    )
    MessageFactory(
        conversation=conversation,
        text="joined",
        author_kind=Message.Author.SYSTEM,
        source=Message.Source.SYSTEM,
    )
    MessageFactory(conversation=conversation, text="[blocked]", filter_action="block")

    turns = conversation_recent_turns(conversation_id=conversation.pk)

    assert [(turn.role, turn.content) for turn in turns] == [
        ("assistant", "bot 1"),
        ("user", "visitor 2"),
        ("assistant", "bot 2"),
        ("user", "visitor 3"),
        ("assistant", "bot 3"),
    ]


@pytest.mark.django_db
def test_a_message_saved_after_a_read_is_in_the_next_read():
    """The reply a message starts reads the turns right after it is saved."""
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, text="hello")
    assert [t.content for t in conversation_recent_turns(conversation_id=conversation.pk)] == [
        "hello"
    ]

    visitor_message_receive(visitor=conversation.visitor, client_id="c-2", text="where is my order")

    assert [t.content for t in conversation_recent_turns(conversation_id=conversation.pk)] == [
        "hello",
        "where is my order",
    ]
