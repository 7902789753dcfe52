"""The client-facing surfaces: OpenAI chat completions, Responses, Anthropic Messages, images, videos,
models and files. Each surface parses its body (sharing validate.py), hands the gateway a neutral job and
renders the events in its own wire format; answer.py drives every answer.

May import: gateway, edge, media, config, storage.base, upstream.events, errors, keys, jsonfast, ids.
grok.com only through the gateway; accounts never directly.
"""
