import re
from pathlib import Path

import pytest

from conversations.consumers.agent import AgentConsumer
from conversations.consumers.visitor import VisitorConsumer
from conversations.events import AGENT_EVENTS, SERVER_EVENTS
from tests.protocol import ProtocolViolation, assert_event

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
# Every frame the visitor consumer handles, straight from its dispatch table.
CLIENT_FRAMES = sorted(VisitorConsumer.HANDLERS)
AGENT_CLIENT_FRAMES = sorted(AgentConsumer.HANDLERS)


@pytest.mark.parametrize("event_type", sorted(SERVER_EVENTS))
def test_every_server_event_is_documented(event_type):
    assert re.search(rf"\| `{re.escape(event_type)}` \|", DOC), (
        f"{event_type} missing from docs/protocol.md"
    )


@pytest.mark.parametrize("frame_type", CLIENT_FRAMES)
def test_every_client_frame_is_documented(frame_type):
    assert f"| `{frame_type}` |" in DOC


def test_validator_rejects_wrong_shapes():
    assert_event({"type": "pong"})
    with pytest.raises(ProtocolViolation):
        assert_event({"type": "reply.delta", "reply_id": "r", "seq": "0", "text": "x"})
    with pytest.raises(ProtocolViolation):
        assert_event({"type": "reply.delta", "reply_id": "r", "seq": 0, "text": "x", "extra": 1})
    with pytest.raises(ProtocolViolation):
        assert_event({"type": "state", "conversation_id": 1, "state": "sleeping"})
    with pytest.raises(ProtocolViolation):
        assert_event({"type": "nonsense"})


@pytest.mark.parametrize("frame_type", sorted(AGENT_EVENTS))
def test_every_agent_frame_is_documented(frame_type):
    agent_section = DOC.split("## Agent socket", 1)[1]
    names = {frame_type} if "suggest" not in frame_type else {"suggest.start"}
    assert any(f"`{name}`" in agent_section for name in names), frame_type


@pytest.mark.parametrize("frame_type", AGENT_CLIENT_FRAMES)
def test_every_agent_client_frame_is_documented(frame_type):
    assert f"| `{frame_type}` |" in DOC.split("## Agent socket", 1)[1]
