"""Writes: visitors, messages, streamed replies and the conversation state machine.

Every function is atomic where state changes together and broadcasts only
after commit, so no party ever sees an event that was rolled back.
"""

from conversations.services.agents import (
    AgentPost,
    agent_message_send,
    agent_offline_if_gone,
    agent_socket_closed,
    agent_socket_opened,
    agent_status_set,
    conversation_mark_read_by_agents,
)
from conversations.services.attachments import (
    AttachmentRefused,
    agent_attachment_upload,
    attachments_link,
    attachments_sweep_unsent,
    visitor_attachment_upload,
)
from conversations.services.common import bot_message_create, system_message_create
from conversations.services.csat import (
    CSAT_COMMENT_MAX_LENGTH,
    CSAT_EDIT_WINDOW,
    CsatRecorded,
    CsatRefused,
    conversation_csat_submit,
)
from conversations.services.llm_replies import (
    llm_reply_abandon,
    llm_reply_fail,
    llm_reply_save,
    replies_reap_stale,
    reply_pending_begin,
)
from conversations.services.ownership import (
    Assignment,
    TransitionRefused,
    agents_available,
    conversation_auto_assign,
    conversation_close,
    conversation_escalate,
    conversation_hand_back,
    conversation_take_over,
    conversation_transfer,
    conversations_close_idle,
)
from conversations.services.transcripts import (
    TranscriptQueued,
    TranscriptRefused,
    transcript_email_request,
    transcript_email_send,
    transcript_export,
)
from conversations.services.visitor_api import (
    MessagePosted,
    VisitorStarted,
    visitor_api_human_request,
    visitor_api_message_post,
    visitor_api_start,
)
from conversations.services.visitors import (
    BLOCKED_TEXT,
    Identified,
    ReceivedMessage,
    VisitorSession,
    conversation_mark_seen,
    identity_hash,
    visitor_identify,
    visitor_message_receive,
    visitor_resume,
)

__all__ = [
    "BLOCKED_TEXT",
    "CSAT_COMMENT_MAX_LENGTH",
    "CSAT_EDIT_WINDOW",
    "AgentPost",
    "Assignment",
    "AttachmentRefused",
    "CsatRecorded",
    "CsatRefused",
    "Identified",
    "MessagePosted",
    "ReceivedMessage",
    "TranscriptQueued",
    "TranscriptRefused",
    "TransitionRefused",
    "VisitorSession",
    "VisitorStarted",
    "agent_attachment_upload",
    "agent_message_send",
    "agent_offline_if_gone",
    "agent_socket_closed",
    "agent_socket_opened",
    "agent_status_set",
    "agents_available",
    "attachments_link",
    "attachments_sweep_unsent",
    "bot_message_create",
    "conversation_auto_assign",
    "conversation_close",
    "conversation_csat_submit",
    "conversation_escalate",
    "conversation_hand_back",
    "conversation_mark_read_by_agents",
    "conversation_mark_seen",
    "conversation_take_over",
    "conversation_transfer",
    "conversations_close_idle",
    "identity_hash",
    "llm_reply_abandon",
    "llm_reply_fail",
    "llm_reply_save",
    "replies_reap_stale",
    "reply_pending_begin",
    "system_message_create",
    "transcript_email_request",
    "transcript_email_send",
    "transcript_export",
    "visitor_api_human_request",
    "visitor_api_message_post",
    "visitor_api_start",
    "visitor_attachment_upload",
    "visitor_identify",
    "visitor_message_receive",
    "visitor_resume",
]
