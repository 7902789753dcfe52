"""A LangChain (langchain-openai) tool-calling agent loop against the gateway and fakegrok."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.gateway.conftest import KEY, Stack

SUPER = "super-langchain-acct-" + "l" * 32
CALLS: list[tuple[int, int]] = []


@tool
def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    CALLS.append((a, b))
    return a * b


async def _agent(llm: Any, question: str, streamed: bool) -> tuple[str, list[BaseMessage]]:
    """The classic loop: ask, run every requested tool, send the results back, until plain text."""
    bound = llm.bind_tools([multiply])
    history: list[BaseMessage] = [HumanMessage(question)]
    for _ in range(4):
        if streamed:
            reply: Any = None
            async for chunk in bound.astream(history):
                reply = chunk if reply is None else reply + chunk
            reply = AIMessage(content=reply.content, tool_calls=reply.tool_calls)
        else:
            reply = await bound.ainvoke(history)
        history.append(reply)
        if not reply.tool_calls:
            return str(reply.content), history
        for call in reply.tool_calls:
            result = multiply.invoke(call["args"])
            history.append(ToolMessage(content=str(result), tool_call_id=call["id"]))
    raise AssertionError("the agent never finished")


@pytest.mark.parametrize("streamed", [False, True])
async def test_agent_calls_the_function_and_answers(stack: Stack, streamed: bool) -> None:
    await stack.add_tokens([SUPER], pool="super")
    llm = ChatOpenAI(model="grok-4", base_url=str(stack.http.make_url("/v1")), api_key=KEY,  # type: ignore[arg-type]
                     max_retries=0, timeout=30, streaming=streamed)
    CALLS.clear()
    answer, history = await _agent(llm, "What is 6 multiplied by 7? Use multiply.", streamed)
    assert CALLS == [(6, 7)]
    assert "42" in answer
    kinds = [type(m).__name__ for m in history]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    first = history[1]
    assert isinstance(first, AIMessage) and first.tool_calls[0]["name"] == "multiply"
    assert first.tool_calls[0]["args"] == {"a": 6, "b": 7}
