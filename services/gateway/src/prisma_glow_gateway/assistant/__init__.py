"""The assistant: conversations, a responder interface, and the tools responders call."""
