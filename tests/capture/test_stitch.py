"""Session stitching rules on hand-built call summaries."""

from __future__ import annotations

import random

from agentload.capture import stitch
from agentload.capture.session_keys import DEFAULT_SESSION_HEADERS, group_key
from agentload.capture.stitch import CallKeys, Stitcher

MS = 1_000_000


def call(
    t0: int,
    t1: int,
    msgs: tuple[str, ...],
    *,
    emits: tuple[str, ...] = (),
    answers: frozenset[str] = frozenset(),
    group: str | None = None,
    args: tuple[str, ...] = (),
    envelope: str | None = None,
) -> CallKeys:
    """Message ids double as the messages' stored text (spawn evidence is searched there)."""
    return CallKeys(
        t_start_ns=t0 * MS,
        t_end_ns=t1 * MS,
        group_key=group,
        message_ids=msgs,
        tool_result_ids=answers,
        emitted_tool_ids=emits,
        envelope=envelope,
        message_texts=msgs,
        spawn_args=args,
    )


def test_tool_loop_by_prefix_and_tool_ids() -> None:
    s = Stitcher("t")
    a0 = s.assign(call(0, 10, ("sys", "u1"), emits=("c1",)))
    a1 = s.assign(call(20, 30, ("sys", "u1", "a1", "r1"), answers=frozenset({"c1"})))
    a2 = s.assign(call(40, 50, ("sys", "u1", "a1", "r1", "a2", "u2")))
    assert (a0.session_id, a0.call_index, a0.stitch) == ("t-00000", 0, "new")
    assert (a1.session_id, a1.call_index, a1.stitch) == ("t-00000", 1, "tool-call-id")
    assert (a2.session_id, a2.call_index, a2.stitch) == ("t-00000", 2, "prefix")
    assert a2.parent_session_id is None


def test_identical_first_requests_are_separate_sessions() -> None:
    s = Stitcher("t")
    first = s.assign(call(0, 10, ("sys", "u1")))
    second = s.assign(call(20, 30, ("sys", "u1")))
    assert first.session_id != second.session_id


def test_subagent_showing_the_spawning_arguments_is_a_child() -> None:
    s = Stitcher("t")
    task = "look for the config loader and report its path"
    s.assign(call(0, 10, ("sys", "task"), emits=("c1",), args=(task,)))
    # the subagent starts while c1 is running; its reply ends after the parent's next call
    s.assign(call(60, 70, ("sys", "task", "a", "r"), answers=frozenset({"c1"})))
    sub = s.assign(call(15, 80, ("subsys", f"Task: {task}")))
    assert sub.stitch == "tool-args"
    assert (sub.session_id, sub.parent_session_id, sub.parent_call_index) == (
        "t-00000.1",
        "t-00000",
        0,
    )
    # the subagent's own follow-up continues the child session
    nxt = s.assign(call(90, 95, ("subsys", f"Task: {task}", "x", "y")))
    assert (nxt.session_id, nxt.call_index) == ("t-00000.1", 1)


def test_request_after_parent_moved_on_is_a_root() -> None:
    s = Stitcher("t")
    s.assign(call(0, 10, ("sys", "task"), emits=("c1",), args=("some long argument text",)))
    s.assign(call(20, 30, ("sys", "task", "a", "r"), answers=frozenset({"c1"})))
    other = s.assign(call(40, 50, ("other",)))
    assert other.parent_session_id is None and other.stitch == "new"


def test_fork_from_an_earlier_call_is_a_child() -> None:
    s = Stitcher("t")
    s.assign(call(0, 10, ("s", "u")))
    s.assign(call(20, 30, ("s", "u", "a", "u2")))
    fork = s.assign(call(40, 50, ("s", "u", "a", "other")))
    assert (fork.parent_session_id, fork.parent_call_index, fork.stitch) == ("t-00000", 0, "prefix")


def test_group_key_confines_matching_and_names_the_session() -> None:
    s = Stitcher("t")
    a = s.assign(call(0, 10, ("s", "u"), group="x-session-id=A"))
    b = s.assign(call(0, 10, ("s", "u"), group="x-session-id=B"))
    a1 = s.assign(call(20, 30, ("s", "u", "r", "u2"), group="x-session-id=A"))
    # compacted history: extends nothing, but the header and the system prompt say session A
    a2 = s.assign(call(40, 50, ("s", "summary"), group="x-session-id=A"))
    assert a.session_id != b.session_id
    assert a.stitch == a1.stitch == a2.stitch == "header"
    assert a.session_id == a1.session_id == a2.session_id
    assert a2.call_index == 2


def test_group_key_sources() -> None:
    names = DEFAULT_SESSION_HEADERS
    assert group_key({"x-claude-code-session-id": "u1"}, {}, names) == "x-claude-code-session-id=u1"
    legacy = {"metadata": {"user_id": "user_abc_account__session_1234-abcd"}}
    assert group_key({}, legacy, names) == "metadata.user_id=1234-abcd"
    new = {"metadata": {"user_id": '{"device_id":"d","session_id":"s-9"}'}}
    assert group_key({}, new, names) == "metadata.user_id=s-9"
    assert group_key({}, {"prompt_cache_key": "k"}, names) == "prompt_cache_key=k"
    assert group_key({}, {"user": "alice"}, names) is None
    assert group_key({"x-mine": "v"}, {"prompt_cache_key": "k"}, ("x-mine",)) == "x-mine=v"


class _ScanStitcher(Stitcher):
    """The reference: finds idle sessions by scanning them all (the original _prune)."""

    def _prune(self, now_ns: int) -> None:
        idle = [s for s in self._sessions.values() if now_ns - s.active_ns > stitch._IDLE_NS]
        for session in idle:
            for name, key in session.keys:
                refs = self._index[name].get(key)
                if refs is not None:
                    refs[:] = [r for r in refs if r[0] != session.sid]
                    if not refs:
                        del self._index[name][key]
            del self._sessions[session.sid]
            self._waiting.get(session.group, {}).pop(session.sid, None)


def test_pruning_idle_sessions_matches_a_full_scan() -> None:
    rng = random.Random(7)
    fast, ref = Stitcher("t"), _ScanStitcher("t")
    t = 0
    histories: list[tuple[str, ...]] = []
    for n in range(12_000):
        t += rng.choice((1, 1, 1, 50, 5_000, 600_000, 2_000_000)) * MS  # gaps up to ~33 min
        if histories and rng.random() < 0.6:  # continue a recent history
            msgs = (*rng.choice(histories[-50:]), f"m{n}")
        else:
            msgs = (f"s{n % 7}", f"u{n}")
        histories.append(msgs)
        keys = CallKeys(
            t_start_ns=t,
            t_end_ns=t + rng.randint(-3_000, 3_000) * MS,  # ends not in order
            group_key=rng.choice((None, None, None, "g1", "g2")),
            message_ids=msgs,
            emitted_tool_ids=(f"c{n}",) if rng.random() < 0.2 else (),
            tool_result_ids=frozenset({f"c{n - 1}"}) if rng.random() < 0.2 else frozenset(),
        )
        assert fast.assign(keys) == ref.assign(keys), n
        if n % 1000 == 999:
            assert fast._sessions.keys() == ref._sessions.keys()
            assert fast._index == ref._index
    assert len(ref._sessions) < 12_000  # pruning did happen


def test_resumed_history_continues_the_last_call_not_a_fork() -> None:
    """`codex exec resume --last`: the request answers the tool calls of calls 0 and 1 but
    its history runs up to call 2's answer, so it is call 3 of the same session; a request
    that only answers call 0's tools (nothing later in its history) still forks."""
    s = Stitcher("t")
    s.assign(call(0, 10, ("dev", "u"), emits=("c1",)))
    s.assign(call(20, 30, ("dev", "u", "f1", "o1"), emits=("c2",), answers=frozenset({"c1"})))
    s.assign(call(40, 50, ("dev", "u", "f1", "o1", "f2", "o2"), answers=frozenset({"c2"})))
    resumed = s.assign(
        call(
            90,
            99,
            ("dev", "u", "f1", "o1", "f2", "o2", "answer", "u2"),
            answers=frozenset({"c1", "c2"}),
        )
    )
    assert (resumed.session_id, resumed.call_index, resumed.parent_session_id) == (
        "t-00000",
        3,
        None,
    )
    fork = s.assign(call(100, 110, ("dev", "u", "f1", "o1x"), answers=frozenset({"c1"})))
    assert (fork.session_id, fork.parent_session_id, fork.parent_call_index) == (
        "t-00000.1",
        "t-00000",
        0,
    )
