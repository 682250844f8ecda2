"""Session stitching: which session (and call index) does an LLM call belong to?

Rules, in order (see docs/capture.md):
1. A *group key* from explicit agent headers or body fields (X-Session-ID, Claude Code's
   session id, Codex's session header, prompt_cache_key, ...) confines matching to calls of
   the same group and names the group's main session.
2. Continuation: the request answers a tool call emitted by an earlier response
   (tool-call-id), chains to an earlier response (previous_response_id), or its messages
   extend an earlier request's messages (prefix). The longest/latest match wins. If the
   matched call is its session's last call, the session continues; otherwise (the session
   already moved on) the call forks into a child session of the matched call.
3. No continuation: a request arriving while some call awaits its tool results (its response
   listed tool calls, ended before this request started, and its session has not sent the
   next call yet) is a side call or subagent: a new child session of the most recent such
   call. Otherwise a new root session (or, with a group key, the group's main session).

Everything here is pure bookkeeping over call summaries; no I/O.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field

__all__ = ["Assignment", "CallKeys", "Stitcher", "chain_hashes"]

_KEEP_CALLS = 8  # recent calls per session kept for the "awaiting a tool result" rule
_IDLE_NS = 3600 * 10**9  # sessions idle this long are forgotten
# A call still waiting for its tool results after this long is not a parent candidate: the
# agent most likely stopped, and unrelated sessions must not become its children.
AWAIT_WINDOW_NS = 15 * 60 * 10**9


@dataclass(frozen=True)
class CallKeys:
    t_start_ns: int
    t_end_ns: int
    group_key: str | None
    message_ids: tuple[str, ...]  # content ids of the request's messages, in order
    tool_result_ids: frozenset[str] = frozenset()
    previous_response_id: str | None = None
    emitted_tool_ids: tuple[str, ...] = ()
    response_id: str | None = None


@dataclass(frozen=True)
class Assignment:
    session_id: str
    call_index: int
    parent_session_id: str | None
    parent_call_index: int | None
    stitch: str  # header | tool-call-id | previous-response | prefix | new


@dataclass
class _Call:
    t_start_ns: int
    t_end_ns: int
    awaits_tools: bool


@dataclass
class _Session:
    sid: str
    group: str | None
    parent: tuple[str, int] | None
    calls: list[_Call] = field(default_factory=list)
    n_calls: int = 0
    n_children: int = 0
    keys: list[tuple[str, str]] = field(default_factory=list)  # (index name, key) to prune


def chain_hashes(ids: tuple[str, ...]) -> list[str]:
    """h[k] identifies the first k+1 ids: equal histories give equal hashes at every k."""
    out: list[str] = []
    h = b""
    for part in ids:
        h = hashlib.blake2b(h + part.encode(), digest_size=16).digest()
        out.append(h.hex())
    return out


def group_session_id(group: str) -> str:
    return "g-" + hashlib.blake2b(group.encode(), digest_size=8).hexdigest()


class Stitcher:
    """Assigns calls to sessions. Feed calls in the order their responses ended."""

    def __init__(self, id_prefix: str) -> None:
        self._prefix = id_prefix
        self._n_roots = 0
        self._sessions: dict[str, _Session] = {}
        self._index: dict[str, dict[str, tuple[str, int]]] = {
            "tool-call-id": {},
            "previous-response": {},
            "prefix": {},
        }
        self._seen = 0
        # (end of a session's call, session): the session's latest call is among them, so
        # idle sessions are found without scanning all sessions (a scan every 1000 calls
        # cost O(sessions): ~6 µs per call at 20,000 sessions, growing linearly).
        self._ends: list[tuple[int, str]] = []
        self._waiting: dict[str, None] = {}  # sessions with a recent call that emitted tools

    def assign(self, call: CallKeys) -> Assignment:
        chains = chain_hashes(call.message_ids)
        found = self._continuation(call, chains)
        if found is not None:
            (sid, idx), how = found
            session = self._sessions[sid]
            if idx == session.n_calls - 1:
                stitch = "header" if call.group_key is not None else how
                return self._record(session, call, chains, stitch)
            return self._record(self._child(session, idx), call, chains, how)
        if call.group_key is not None and group_session_id(call.group_key) not in self._sessions:
            return self._record(self._root(call.group_key), call, chains, "header")
        waiting = self._awaiting(call)
        if waiting is not None:
            parent, idx = waiting
            return self._record(self._child(parent, idx), call, chains, "new")
        if call.group_key is not None:
            session = self._sessions[group_session_id(call.group_key)]
            return self._record(session, call, chains, "header")
        return self._record(self._root(None), call, chains, "new")

    # -- matching --------------------------------------------------------------------
    def _in_group(self, ref: tuple[str, int] | None, group: str | None) -> bool:
        return ref is not None and self._sessions[ref[0]].group == group

    def _continuation(
        self, call: CallKeys, chains: list[str]
    ) -> tuple[tuple[str, int], str] | None:
        """The call this one continues, by the strongest evidence (tool results, then
        previous_response_id, then a message prefix); within the session it names, the
        latest call any evidence points to (a resumed conversation answers the tool calls
        of early calls but extends the history up to the last one)."""
        found = self._evidence(call, chains)
        if not found:
            return None
        (sid, _), how = found[0]
        return max((f for f in found if f[0][0] == sid), key=lambda f: f[0][1])[0], how

    def _evidence(self, call: CallKeys, chains: list[str]) -> list[tuple[tuple[str, int], str]]:
        found: list[tuple[tuple[str, int], str]] = []
        tools = self._index["tool-call-id"]
        refs = [tools.get(t) for t in call.tool_result_ids]
        hits = [r for r in refs if r is not None and self._in_group(r, call.group_key)]
        if hits:
            found.append((max(hits, key=lambda r: r[1]), "tool-call-id"))
        if call.previous_response_id is not None:
            ref = self._index["previous-response"].get(call.previous_response_id)
            if ref is not None and self._in_group(ref, call.group_key):
                found.append((ref, "previous-response"))
        prefixes = self._index["prefix"]
        # A strict prefix only: an identical request is a retry or an unrelated session that
        # happens to start alike, and chaining those would merge independent sessions.
        for key in reversed(chains[:-1]):
            ref = prefixes.get(key)
            if ref is not None and self._in_group(ref, call.group_key):
                found.append((ref, "prefix"))
                break
        return found

    def _awaiting(self, call: CallKeys) -> tuple[_Session, int] | None:
        best: tuple[int, _Session, int] | None = None
        for sid in list(self._waiting):
            session = self._sessions[sid]
            if session.calls[-1].t_end_ns < call.t_start_ns - AWAIT_WINDOW_NS:
                del self._waiting[sid]  # stale: keeps this scan short
                continue
            if session.group != call.group_key:
                continue
            base = session.n_calls - len(session.calls)
            for i, c in enumerate(session.calls):
                nxt = session.calls[i + 1] if i + 1 < len(session.calls) else None
                open_ = nxt is None or nxt.t_start_ns > call.t_start_ns
                later = best is None or c.t_end_ns > best[0]
                if c.awaits_tools and c.t_end_ns <= call.t_start_ns and open_ and later:
                    best = (c.t_end_ns, session, base + i)
        return None if best is None else (best[1], best[2])

    # -- bookkeeping -----------------------------------------------------------------
    def _root(self, group: str | None) -> _Session:
        if group is not None:
            sid = group_session_id(group)
        else:
            sid = f"{self._prefix}-{self._n_roots:05d}"
            self._n_roots += 1
        session = _Session(sid, group, None)
        self._sessions[sid] = session
        return session

    def _child(self, parent: _Session, call_index: int) -> _Session:
        parent.n_children += 1
        sid = f"{parent.sid}.{parent.n_children}"
        session = _Session(sid, parent.group, (parent.sid, call_index))
        self._sessions[sid] = session
        return session

    def _record(
        self, session: _Session, call: CallKeys, chains: list[str], stitch: str
    ) -> Assignment:
        idx = session.n_calls
        session.n_calls += 1
        session.calls.append(_Call(call.t_start_ns, call.t_end_ns, bool(call.emitted_tool_ids)))
        del session.calls[:-_KEEP_CALLS]
        if any(c.awaits_tools for c in session.calls):
            self._waiting[session.sid] = None
        else:
            self._waiting.pop(session.sid, None)
        ref = (session.sid, idx)
        entries = [("tool-call-id", t) for t in call.emitted_tool_ids]
        if call.response_id is not None:
            entries.append(("previous-response", call.response_id))
        if chains:
            entries.append(("prefix", chains[-1]))
        for name, key in entries:
            self._index[name][key] = ref
        session.keys.extend(entries)
        heapq.heappush(self._ends, (call.t_end_ns, session.sid))
        self._seen += 1
        if self._seen % 1000 == 0:
            self._prune(call.t_end_ns)
        parent = session.parent
        return Assignment(
            session.sid, idx, parent[0] if parent else None, parent[1] if parent else None, stitch
        )

    def _prune(self, now_ns: int) -> None:
        """Forget the sessions whose latest call ended more than _IDLE_NS before now."""
        ends, idle = self._ends, dict[str, _Session]()
        while ends and ends[0][0] < now_ns - _IDLE_NS:
            _, sid = heapq.heappop(ends)
            s = self._sessions.get(sid)  # entries of earlier calls, or of a forgotten session
            if s is not None and s.calls and now_ns - s.calls[-1].t_end_ns > _IDLE_NS:
                idle[sid] = s
        if len(ends) > 4 * len(self._sessions) + 1000:  # mostly entries of earlier calls
            self._ends = [(s.calls[-1].t_end_ns, s.sid) for s in self._sessions.values() if s.calls]
            heapq.heapify(self._ends)
        for session in idle.values():
            for name, key in session.keys:
                if self._index[name].get(key, ("",))[0] == session.sid:
                    del self._index[name][key]
            del self._sessions[session.sid]
            self._waiting.pop(session.sid, None)
