"""Limit/offset pages for the agent API's lists (conversations, KB entries)."""

from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# Past this no page can hold rows, and PostgreSQL refuses an OFFSET beyond bigint.
OFFSET_MAX = 10**9


class AgentAPIPagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), OFFSET_MAX)
