"""/metrics in Prometheus text format with vLLM V1 names (see docs/simengine.md)."""

from __future__ import annotations

from agentload.simengine.accept import BUCKETS, AcceptStats
from agentload.simengine.engine import Engine


def _rows(engine: Engine) -> list[tuple[str, str, str, float]]:
    """(name, type, help, value) of every plain metric."""
    c = engine.counters
    pool = engine.pool
    return [
        (
            "vllm:num_requests_running",
            "gauge",
            "Requests in the running batch.",
            len(engine.running),
        ),
        (
            "vllm:num_requests_waiting",
            "gauge",
            "Requests waiting for admission.",
            len(engine.waiting),
        ),
        (
            "vllm:kv_cache_usage_perc",
            "gauge",
            "Fraction of KV blocks referenced by requests (0-1).",
            pool.used / pool.num_blocks,
        ),
        (
            "vllm:prefix_cache_queries_total",
            "counter",
            "Prompt tokens looked up in the prefix cache.",
            c.prefix_queries,
        ),
        (
            "vllm:prefix_cache_hits_total",
            "counter",
            "Prompt tokens found in the prefix cache.",
            c.prefix_hits,
        ),
        (
            "vllm:prompt_tokens_total",
            "counter",
            "Prompt tokens of admitted requests.",
            c.prompt_tokens,
        ),
        ("vllm:generation_tokens_total", "counter", "Generated tokens.", c.generation_tokens),
        ("vllm:request_success_total", "counter", "Requests finished.", c.finished),
        ("vllm:num_preemptions_total", "counter", "Preemptions (always 0 in the sim).", 0),
        (
            "agentload_sim:aborted_requests_total",
            "counter",
            "Requests whose client left.",
            c.aborted,
        ),
        ("agentload_sim:steps_total", "counter", "Engine steps executed.", c.steps),
        ("agentload_sim:busy_seconds_total", "counter", "Simulated step time.", c.busy_s),
        ("agentload_sim:kv_evictions_total", "counter", "Cached blocks evicted.", pool.evictions),
        ("agentload_sim:kv_cached_blocks", "gauge", "Blocks findable by hash.", pool.cached_blocks),
    ]


def render(engine: Engine, model: str) -> str:
    label = f'{{model_name="{model}"}}'
    pool = engine.pool
    cfg = engine.config
    out = []
    for name, kind, help_text, value in _rows(engine):
        out.append(
            f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name}{label} {float(value)}\n"
        )
    out.append(
        "# HELP vllm:cache_config_info Information of the KV cache configuration.\n"
        "# TYPE vllm:cache_config_info gauge\n"
        f'vllm:cache_config_info{{block_size="{cfg.block_size}",num_gpu_blocks="{pool.num_blocks}",'
        f'enable_prefix_caching="{cfg.enable_prefix_caching}",model_name="{model}"}} 1.0\n'
    )
    return "".join(out)


def render_server(
    accepts: AcceptStats, accept_queue: int | None, prepare_queue: int, model: str
) -> str:
    """The socket layer's figures: accept delays, the accept queue, requests being parsed."""
    label = f'model_name="{model}"'
    name = "agentload_sim:accept_delay_seconds"
    out = [
        f"# HELP {name} Kernel time from a connection's handshake to the sim's accept.\n"
        f"# TYPE {name} histogram\n"
    ]
    cumulative = 0
    for bound, count in zip((*BUCKETS, "+Inf"), accepts.counts, strict=True):
        cumulative += count
        out.append(f'{name}_bucket{{{label},le="{bound}"}} {float(cumulative)}\n')
    out.append(f"{name}_sum{{{label}}} {accepts.sum_s}\n{name}_count{{{label}}} {accepts.total}\n")
    gauges = [
        ("agentload_sim:accept_delay_max_seconds", "Longest accept delay so far.", accepts.max_s),
        (
            "agentload_sim:prepare_queue",
            "Requests read but not yet parsed and tokenized (waiting for the loop's slices).",
            prepare_queue,
        ),
    ]
    if accept_queue is not None:
        gauges.append(
            (
                "agentload_sim:accept_queue",
                "Connections waiting in the kernel's accept queue now.",
                accept_queue,
            )
        )
    for gname, help_text, value in gauges:
        out.append(
            f"# HELP {gname} {help_text}\n# TYPE {gname} gauge\n{gname}{{{label}}} {float(value)}\n"
        )
    return "".join(out)
