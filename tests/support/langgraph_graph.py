"""A small LangGraph graph that asks a human before it acts (an interrupt), checkpointed by
``quarterdeck.langgraph``; run as a module it resumes a thread in a process of its own:
``python -m tests.support.langgraph_graph TARGET TOKEN THREAD_ID ANSWER`` prints the final
state as JSON."""

from __future__ import annotations

import json
import operator
import sys
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from quarterdeck.langgraph import QuarterdeckCheckpointSaver


class Approval(TypedDict):
    steps: Annotated[list[str], operator.add]
    decision: str


def build_graph(saver: QuarterdeckCheckpointSaver) -> Any:
    def draft(state: Approval) -> dict[str, Any]:
        return {"steps": ["drafted"]}

    def ask_human(state: Approval) -> dict[str, Any]:
        decision = interrupt({"question": "send the refund?"})
        return {"steps": ["asked"], "decision": decision}

    def act(state: Approval) -> dict[str, Any]:
        return {"steps": [f"acted:{state['decision']}"]}

    builder = StateGraph(Approval)
    builder.add_node("draft", draft)
    builder.add_node("ask_human", ask_human)
    builder.add_node("act", act)
    builder.add_edge(START, "draft")
    builder.add_edge("draft", "ask_human")
    builder.add_edge("ask_human", "act")
    builder.add_edge("act", END)
    return builder.compile(checkpointer=saver)


def resume(target: str, token: str, thread_id: str, answer: str) -> dict[str, Any]:
    saver = QuarterdeckCheckpointSaver(target, metadata=[("authorization", f"Bearer {token}")])
    try:
        config = {"configurable": {"thread_id": thread_id}}
        return dict(build_graph(saver).invoke(Command(resume=answer), config))
    finally:
        saver.close()


if __name__ == "__main__":
    print(json.dumps(resume(*sys.argv[1:5])))
