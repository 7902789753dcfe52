"""grok2api/ids.py: ids from os.urandom read in blocks, as the stdlib's own would be, and never repeated."""

from __future__ import annotations

import base64
import os
import re
import uuid

from grok2api import ids


def test_uuid4_is_a_version_4_uuid_written_as_uuid_writes_it() -> None:
    made = [ids.uuid4() for _ in range(600)]  # more than two blocks of 256
    assert len(set(made)) == len(made)
    for text in made:
        u = uuid.UUID(text)
        assert str(u) == text and u.version == 4 and u.variant == uuid.RFC_4122


def test_tokens_have_the_secrets_module_shapes() -> None:
    assert re.fullmatch(r"[0-9a-f]{24}", ids.token_hex(12))
    token = ids.token_urlsafe(18)
    assert re.fullmatch(r"[A-Za-z0-9_-]{24}", token) and len(base64.urlsafe_b64decode(token)) == 18
    assert len(ids.token_urlsafe(10)) == 14  # unpadded, as secrets.token_urlsafe(10)
    assert len(ids.token_bytes(5000)) == 5000  # more than a block: read on its own
    pieces = [ids.token_bytes(100) for _ in range(100)]  # across block boundaries
    assert all(len(p) == 100 for p in pieces) and len(set(pieces)) == 100


def test_a_forked_worker_does_not_repeat_its_parents_ids() -> None:
    ids.uuid4()  # the parent holds a block with ids left in it
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, ids.uuid4().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert uuid.UUID(child).version == 4
    assert child != ids.uuid4()  # what the parent hands out next is not what the child got
