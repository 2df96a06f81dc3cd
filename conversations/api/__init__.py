"""The HTTP API over conversations: the visitor API (site key + visitor token, with
Server-Sent Events) and the agent API (staff token or session). docs/api.md."""
