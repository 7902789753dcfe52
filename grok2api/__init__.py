"""grok2api: an OpenAI- and Anthropic-compatible gateway to Grok's web app."""

__version__ = "0.1.0"
