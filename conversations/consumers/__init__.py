from conversations.consumers.agent import AgentConsumer
from conversations.consumers.visitor import VisitorConsumer

__all__ = ["AgentConsumer", "VisitorConsumer"]
