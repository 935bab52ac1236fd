"""What `adaptlab serve` can be told: one typed config, the CLI flags are a view of it."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ServeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="base model spec (builtin:tiny, builtin:smollm2-135m, a folder, a .gguf, a hub id)")
    engine: Literal["builtin", "ray", "vllm"] = Field(
        default="builtin",
        description="what generates behind the gateway: builtin (this process), ray (a Ray Serve deployment), "
        "vllm (a vLLM OpenAI server at --vllm-url); see docs/deploy.md",
    )
    replicas: int = Field(default=1, ge=1, description="Ray Serve replicas of the model (--engine ray), each with its own copy")
    ray_replica_cpus: float = Field(default=1.0, gt=0, description="CPUs Ray reserves per replica (--engine ray)")
    ray_adapters_per_replica: int = Field(
        default=8, ge=1, description="adapters one replica holds; requests go to a replica holding theirs (--engine ray)"
    )
    vllm_url: str | None = Field(default=None, description="base URL of the vLLM OpenAI server, e.g. http://gpu-1:8000 (--engine vllm)")
    vllm_api_key: str | None = Field(default=None, description="the vLLM server's --api-key, if it has one (--engine vllm)")
    vllm_timeout_s: float = Field(default=300.0, gt=0, description="seconds a vLLM call may take, including loading an adapter (--engine vllm)")
    registry: Path = Field(default=Path("registry"), description="registry folder the adapters and bearer tokens come from")
    db: str | None = Field(default=None, description="registry database URL (default: SQLite inside --registry)")
    blobs: str | None = Field(default=None, description="registry blob store URL (default: <registry>/blobs)")
    host: str = Field(default="127.0.0.1", description="address to listen on")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free port)")
    merge: str | None = Field(
        default=None, description="serve only this adapter (tenant/name@alias|vN), merged into the base: no adapter overhead"
    )
    allow_unapproved: bool = Field(
        default=False,
        description="also serve versions with no approval and no alias (development only; by default only approved or aliased versions)",
    )
    alias_ttl_s: float = Field(
        default=2.0,
        ge=0,
        description="seconds an alias or latest version stays resolved before the registry is asked again (promote and rollback take effect within it)",
    )
    pin: tuple[str, ...] = Field(default=(), description="adapters (tenant/name@alias|vN) loaded at start and never evicted")
    max_batch_size: int = Field(default=8, ge=1, description="most requests decoded together in one forward pass")
    max_wait_ms: float = Field(default=5.0, ge=0, description="how long the scheduler waits for more requests before a batch starts")
    lora_kernel: Literal["stacked", "gathered"] = Field(
        default="gathered",
        description="how a batch's per-row LoRA updates are computed: stacked (all the batch's adapters concatenated, rows masked) "
        "or gathered (each row's own weights, batched matmuls); measured in bench/README.md",
    )
    cache_bytes: int = Field(default=256 * 2**20, ge=0, description="memory budget of loaded adapter weights; least recently used go first")
    max_request_bytes: int = Field(default=1 * 2**20, ge=1, description="largest accepted request body (HTTP 413 above)")
    max_tokens_limit: int = Field(default=512, ge=1, description="largest max_tokens a request may ask for (HTTP 400 above)")
    default_max_tokens: int = Field(default=64, ge=1, description="max_tokens when a request gives none")
    max_prompt_tokens: int = Field(default=2048, ge=1, description="longest accepted prompt in tokens (HTTP 400 above)")
    max_concurrent_requests: int = Field(default=64, ge=1, description="requests in flight across all tenants (HTTP 429 above)")
    torch_threads: int | None = Field(
        default=None,
        ge=1,
        description="CPU threads for torch's kernels (default: torch's choice); 1 is fastest for tiny models on small CPUs",
    )
    max_concurrent_per_tenant: int = Field(default=16, ge=1, description="requests in flight per tenant (HTTP 429 above)")
    header_timeout_s: float = Field(
        default=5.0, gt=0, description="seconds a client has to send a request's headers (from its first byte); 408 and close after"
    )
    body_timeout_s: float = Field(
        default=10.0, gt=0, description="seconds a client has to send a request's body once its headers are in; 408 and close after"
    )
    record_completions: bool = Field(
        default=True,
        description="record each answered completion (id, tenant, version, time, token counts, latency, error) in the registry, "
        "for feedback and canary figures",
    )
    record_text: bool = Field(default=False, description="also record each completion's prompt and answer text (off: no text is ever stored)")
    completion_queue_size: int = Field(
        default=10000,
        ge=1,
        description="completion records waiting for the background writer; beyond that, dropped and counted (never waited for)",
    )
    drift_sample_rate: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of prompts to versions with a drift reference that are embedded for drift monitoring (0: off)",
    )
    drift_window_prompts: int = Field(default=500, ge=10, description="sampled prompts kept per version (the rolling window drift is tested on)")
    drift_min_prompts: int = Field(default=50, ge=10, description="sampled prompts a version's window needs before drift is tested")
    drift_every_prompts: int = Field(default=50, ge=1, description="new sampled prompts between two drift tests (and gauge updates)")
    drift_threshold: float = Field(
        default=0.55, gt=0.5, lt=1, description="domain-classifier ROC AUC above which a version's prompts count as drifted"
    )
    drift_cpu_share: float = Field(
        default=0.25, gt=0, le=1, description="most of the time the drift thread may spend embedding and testing (it sleeps the rest)"
    )
    drift_queue_prompts: int = Field(default=256, ge=1, description="sampled prompts waiting to be embedded; more are dropped (and counted)")
    keep_prompt_text: bool = Field(
        default=False,
        description="keep sampled prompts' text in memory so `adaptlab monitor drift` shows one per cluster (default: lengths and ids only)",
    )
    trace_content: bool = Field(
        default=False, description="put prompt and completion text into OpenTelemetry spans (default: never; spans carry models and token counts)"
    )
    metrics_token: str | None = Field(
        default=None,
        description="bearer token /metrics requires (default: /metrics is open; keep it behind the network boundary either way)",
    )
