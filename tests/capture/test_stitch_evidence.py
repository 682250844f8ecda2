"""Stitching by evidence (issue 16): collisions never cross sessions or groups, subagents
are recognised by what the client sends, an agent that ended on a tool call is no parent."""

from __future__ import annotations

import json

from agentload.capture.session_keys import instructions
from agentload.capture.stitch import IDLE_FLOOR_NS, Assignment, Stitcher
from agentload.traceformat.content import canonical_json
from tests.capture.test_stitch import MS, call

S = 1000  # ms


def test_colliding_tool_ids_across_groups_keep_a_and_b_apart() -> None:
    """Issue 16, repro (a): different group keys, A1 answers call_1 without a message prefix."""
    s = Stitcher("t")
    a0 = s.assign(call(0, 10, ("sa", "ua"), emits=("call_1",), group="x-session-id=A"))
    b0 = s.assign(call(1, 11, ("sb", "ub"), emits=("call_1",), group="x-session-id=B"))
    a1 = s.assign(
        call(20, 30, ("tool result",), answers=frozenset({"call_1"}), group="x-session-id=A")
    )
    assert (a1.session_id, a1.call_index, a1.stitch) == (a0.session_id, 1, "header")
    assert b0.parent_session_id is None and b0.session_id != a0.session_id
    assert b0.call_index == 0


def test_colliding_tool_ids_without_groups_keep_a_and_b_apart() -> None:
    """Issue 16, repro (b): no group keys; B0 arrives while A0 awaits call_1."""
    s = Stitcher("t")
    a0 = s.assign(call(0, 10, ("sys", "ua"), emits=("call_1",)))
    b0 = s.assign(call(12, 20, ("sys", "ub"), emits=("call_1",)))
    a1 = s.assign(call(25, 30, ("sys", "ua", "aa", "ra"), answers=frozenset({"call_1"})))
    b1 = s.assign(call(26, 31, ("sys", "ub", "ab", "rb"), answers=frozenset({"call_1"})))
    assert (b0.session_id, b0.call_index, b0.parent_session_id) == ("t-00001", 0, None)
    assert (a1.session_id, a1.call_index) == (a0.session_id, 1)
    assert (b1.session_id, b1.call_index) == (b0.session_id, 1)


def test_identical_agents_with_colliding_ids_continue_their_own_sessions() -> None:
    """Content cannot tell them apart; each still continues one session, never a fork."""
    s = Stitcher("t")
    a0 = s.assign(call(0, 10, ("sys", "u"), emits=("call_1",)))
    b0 = s.assign(call(0, 11, ("sys", "u"), emits=("call_1",)))
    nxt = ("sys", "u", "a", "r")
    first = s.assign(call(20, 30, nxt, answers=frozenset({"call_1"})))
    second = s.assign(call(21, 31, nxt, answers=frozenset({"call_1"})))
    assert {first.session_id, second.session_id} == {a0.session_id, b0.session_id}
    assert first.call_index == second.call_index == 1
    assert first.parent_session_id is None and second.parent_session_id is None


def _mini_run(s: Stitcher, start_ms: int, task: str) -> list[Assignment]:
    """Three calls 1 s apart, the last one submitting with a shell command and never
    answered; the instructions quote that command (as mini-swe-agent's do)."""
    submit = json.dumps("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git diff")[1:-1]
    sys_ = f"You are a helpful agent. When done, run: {submit}"
    msgs: tuple[str, ...] = (sys_, task)
    out = []
    for i in range(3):
        t = start_ms + i * 1000
        args = (submit,) if i == 2 else (f"ls -la /repo/src/module_{i}/",)
        answers = frozenset({f"{task}-c{i - 1}"}) if i else frozenset()
        out.append(
            s.assign(call(t, t + 500, msgs, emits=(f"{task}-c{i}",), answers=answers, args=args))
        )
        msgs = (*msgs, f"assistant {task} {i}", f"result {task} {i}")
    return out


def test_five_sequential_runs_ending_on_a_tool_call_are_five_roots() -> None:
    s = Stitcher("t")
    runs = [_mini_run(s, k * 10 * S, "fix the failing test") for k in range(5)]
    roots = {r[0].session_id for r in runs}
    assert len(roots) == 5
    for run in runs:
        assert all(a.parent_session_id is None for a in run)
        assert [a.session_id for a in run] == [run[0].session_id] * 3
        assert [a.call_index for a in run] == [0, 1, 2]


def test_five_grouped_runs_ending_on_a_tool_call_do_not_nest_after_the_idle_limit() -> None:
    """In a group, timing alone may pick a parent, but not one idle past its longest gap
    (floor IDLE_FLOOR_NS): a new run with another system prompt after 8 s is no child."""
    s = Stitcher("t")
    g = "x-session-id=G"
    s.assign(call(0, 500, ("sysA", "task"), emits=("c0",), group=g))
    late = s.assign(call(500 + IDLE_FLOOR_NS // MS + 3 * S, 20 * S, ("sysB", "other"), group=g))
    # in the group it is a side call of the main session, not a subagent of the waiting call
    assert late.stitch == "header"
    soon = s.assign(
        call(21 * S, 22 * S, ("sysA", "task", "a", "r"), answers=frozenset({"c0"}), group=g)
    )
    assert soon.call_index == 1 and soon.parent_session_id is None
    sub = s.assign(call(22 * S + 200, 23 * S, ("sysC", "sub"), group=g))
    assert (sub.parent_session_id, sub.parent_call_index) == (soon.session_id, 1)


def test_group_subagent_with_another_system_prompt_is_a_child() -> None:
    """Claude Code: the subagent shares the session header; its system prompt differs."""
    s = Stitcher("t")
    g = "x-claude-code-session-id=u1"
    # stored envelopes are canonical JSON (capture.apis.dumps)
    main_env, sub_env = canonical_json({"system": "main agent"}), canonical_json({"system": "sub"})
    prompt = "Find every caller of load_config and list them"
    m0 = s.assign(
        call(0, 10, ("task",), emits=("toolu_1",), args=(prompt,), group=g, envelope=main_env)
    )
    sub0 = s.assign(call(12, 20, (f"[{prompt}]",), emits=("toolu_2",), group=g, envelope=sub_env))
    sub1 = s.assign(
        call(
            25,
            30,
            (f"[{prompt}]", "a", "r"),
            answers=frozenset({"toolu_2"}),
            group=g,
            envelope=sub_env,
        )
    )
    m1 = s.assign(
        call(35, 40, ("task", "a", "r"), answers=frozenset({"toolu_1"}), group=g, envelope=main_env)
    )
    compacted = s.assign(call(50, 60, ("summary",), group=g, envelope=main_env))
    assert (sub0.parent_session_id, sub0.parent_call_index, sub0.stitch) == (
        m0.session_id,
        0,
        "tool-args",
    )
    assert (sub1.session_id, sub1.call_index) == (sub0.session_id, 1)
    assert (m1.session_id, m1.call_index) == (m0.session_id, 1)
    assert (compacted.session_id, compacted.call_index) == (m0.session_id, 2)


def test_helper_without_session_ids_joins_the_run_that_asked_for_it() -> None:
    """Two concurrent runs, no session ids: the helper's input names its parent, not the
    most recent waiting call (issue 16: it was attached to the other run)."""
    s = Stitcher("t")
    r1 = s.assign(
        call(0, 10, ("sys", "run one"), emits=("c1",), args=("summarise module alpha please",))
    )
    r2 = s.assign(
        call(1, 12, ("sys", "run two"), emits=("c2",), args=("summarise module beta please",))
    )
    helper = s.assign(call(13, 20, ("helper sys", "summarise module alpha please")))
    stranger = s.assign(call(14, 21, ("other sys", "unrelated")))
    assert (helper.parent_session_id, helper.stitch) == (r1.session_id, "tool-args")
    assert stranger.parent_session_id is None
    assert r2.parent_session_id is None


def test_arguments_copied_from_the_own_request_are_no_evidence() -> None:
    s = Stitcher("t")
    quoted = "src/agentload/capture/stitch.py"
    s.assign(call(0, 10, ("sys", f"look at {quoted}"), emits=("c1",), args=(quoted,)))
    other = s.assign(call(11, 20, ("sys", f"review {quoted}")))
    assert other.parent_session_id is None


def test_identical_parents_each_get_one_identical_child() -> None:
    s = Stitcher("t")
    arg = "explore the repository layout"
    p1 = s.assign(call(0, 10, ("sys", "u"), emits=("c1",), args=(arg,)))
    p2 = s.assign(call(0, 11, ("sys", "u"), emits=("c1",), args=(arg,)))
    k1 = s.assign(call(12, 20, ("sub", arg)))
    k2 = s.assign(call(12, 21, ("sub", arg)))
    assert {k1.parent_session_id, k2.parent_session_id} == {p1.session_id, p2.session_id}


def test_sequential_subagents_keep_their_parent_active() -> None:
    """The parent waits minutes on its first subagent; the second, spawned after it, is
    still its child (the subagent's calls count as the parent's activity)."""
    s = Stitcher("t")
    g = "x-session-id=P"
    p = s.assign(call(0, 10, ("sys", "u"), emits=("a", "b"), group=g))
    a0 = s.assign(call(20, 30, ("subsys", "one"), group=g))
    t = 30
    for i in range(20):  # 20 calls over ~200 s
        msgs = ("subsys", "one", *(f"m{j}" for j in range(2 * i + 2)))
        s.assign(call(t + 10 * S, t + 10 * S + 50, msgs, group=g))
        t += 10 * S
    b0 = s.assign(call(t + 100, t + 200, ("subsys", "two"), group=g))
    assert a0.parent_session_id == b0.parent_session_id == p.session_id


def test_instructions_are_cut_from_the_top_level_of_the_envelope() -> None:
    tools = [{"name": "t", "input_schema": {"properties": {"system": {"type": "string"}}}}]
    env = canonical_json({"model": "m", "system": [{"text": "be brief"}], "tools": tools})
    assert instructions(env) == '[{"text":"be brief"}]'
    nested = canonical_json({"model": "m", "tools": tools})
    assert instructions(nested) is None
    assert instructions(canonical_json({"instructions": "go"})) == '"go"'
