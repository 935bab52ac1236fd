"""The training recipe, one loop for every method: set up → train → evaluate → save.

Runs unchanged under `accelerate launch` (data-parallel, FSDP2, DeepSpeed ZeRO-2/3: train/distributed.py) and as
Ray Train workers (train/ray_launch.py); writes where --out says, a folder or an fsspec URL (train/run_location.py).
"""

import uuid
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from rich.console import Console

from adaptlab import atomic
from adaptlab.data import PreparedData
from adaptlab.errors import ConfigError
from adaptlab.methods import FineTuningMethod, get_method
from adaptlab.models import ResolvedModel, load_tokenizer, resolve_model
from adaptlab.models.hashing import count_parameters
from adaptlab.objectives import TrainingObjective, get_objective
from adaptlab.schemas.run_record import (
    RUN_RECORD_FILE, ArtifactInfo, BaseModelInfo, MachineLoad, RunMetrics, RunRecord, read_run_record,
)
from adaptlab.schemas.train_config import TrainConfig
from adaptlab.train.batching import BatchPlan
from adaptlab.train.checkpoint import (
    CHECKPOINTS_DIR, LoopState, check_resumable, create_run_dir, list_checkpoints, restore_after_prepare,
    restore_before_prepare, write_checkpoint,
)
from adaptlab.train.compiling import compile_decoder_layers
from adaptlab.train.distributed import (
    check_strategy, configure_strategy, create_accelerator, gathered_weights, run_strategy, topology,
)
from adaptlab.train.environment import check_world_size, choose_precision, environment_info, peak_memory, reset_peak_memory
from adaptlab.train.load_sampler import LoadSampler
from adaptlab.train.progress import summary_table, training_progress
from adaptlab.train.run_location import (
    check_url_out, prepare_staging, remove_staging, staging_run_dir, upload_checkpoint, upload_run, upload_started,
)
from adaptlab.train.stopwatch import Stopwatch

ARTIFACT_COMPLETE_MARKERS = ("adapter_config.json", "config.json", RUN_RECORD_FILE)


@dataclass(frozen=True)
class TrainedRun:
    record: RunRecord
    model: torch.nn.Module = field(repr=False)


def train(config: TrainConfig, *, resume: bool = False, console: Console | None = None) -> TrainedRun:
    from transformers import get_scheduler

    # bf16 autocast is ours (train_step), not accelerate's: its precision is process-global state,
    # and several runs with different precision may share one process.
    objective = get_objective(config.task, config.objective)
    config = objective.with_defaults(config)
    accelerator = create_accelerator()
    check_world_size(accelerator.num_processes)
    strategy = run_strategy(accelerator, config.launcher)
    check_strategy(strategy, get_method(config.method))
    console = console or Console()
    is_main = accelerator.is_main_process
    run_dir = staging_run_dir(config.out)  # --out itself, or the local folder a URL's copy is made from
    check_url_out(config.out, resume)
    if accelerator.is_local_main_process:
        prepare_staging(config.out, resume)
    accelerator.wait_for_everyone()
    check_run_dir(run_dir, resume)
    checkpoint = (list_checkpoints(run_dir) or [None])[-1] if resume else None
    check_resumable(checkpoint, strategy, config.allow_pickle)
    precision, precision_reason = choose_precision(config.precision)
    config = config.model_copy(update={"precision": precision})  # resolved once: run.json and --resume keep it
    if is_main:
        console.print(f"precision: {precision} ({precision_reason})", highlight=False)

    # --- set up: base model, data, method, optimizer ---
    torch.manual_seed(config.run_seed)
    base = resolve_model(config.model)
    tokenizer = load_tokenizer(base.path)
    data = objective.prepare_data(config, tokenizer)
    config = objective.resolved_config(config, data)
    method = get_method(config.method)
    config, packing_note = method_packing(config, method)
    if packing_note and is_main:
        console.print(f"packing off for {config.method}: {packing_note}", highlight=False)
    model = method.prepare(base, config)
    if config.compile_layers:
        compile_decoder_layers(model)
    plan = objective.batch_plan(config, accelerator.num_processes, tokenizer.pad_token_id)
    total_steps = planned_steps(config, plan, data)
    init_clock = Stopwatch()  # the objective's loss module and the method's data pass count as training time
    # the objective's own files (--precompute-reference) go to the local run folder, which a URL --out is copied from
    loss_module = objective.loss_module(model, method, config.model_copy(update={"out": run_dir}), data, plan)
    if method.needs_data_pass(config):
        method.initialize_from_data(model, config, first_epoch_batches(plan, data, config.seed, accelerator.process_index))
    init_seconds = (init_clock.wall_s, init_clock.cpu_s)
    optimizer = method.optimizer(model, config)
    scheduler_name = {"constant": "constant_with_warmup"}.get(config.lr_schedule, config.lr_schedule)
    scheduler = get_scheduler(scheduler_name, optimizer, num_warmup_steps=config.warmup_steps, num_training_steps=total_steps)
    state = restore_before_prepare(checkpoint, strategy, model, optimizer, scheduler)
    configure_strategy(accelerator, config, loss_module)
    loss_module, optimizer = accelerator.prepare(loss_module, optimizer)
    state = restore_after_prepare(accelerator, checkpoint, strategy, scheduler, state)
    if checkpoint is not None and is_main:
        console.print(f"resuming at step {state.step} from {checkpoint.name}", highlight=False)

    record = new_record(config, base, data, method, model)
    record = record.model_copy(update={
        "precision_chosen": precision, "precision_reason": precision_reason, "packing_note": packing_note,
        "topology": topology(accelerator, strategy),
    })
    if state.step == 0 and is_main:
        atomic.write_json(run_dir / RUN_RECORD_FILE, record.model_dump(mode="json"))
        upload_started(config.out, run_dir)

    # --- train ---
    loading_peak_bytes, _ = peak_memory()
    reset_peak_memory()
    if data.eval and state.step == 0:
        state.eval_curve.append(evaluation_point(0, objective, loss_module, data, plan, config))  # the base's own score
    loss_module.train()
    if state.step == 0:
        state.train_time_s, state.cpu_time_s = init_seconds
    clock = Stopwatch(state.train_time_s, state.cpu_time_s)
    with LoadSampler() as sampler, training_progress(console, disable=not is_main) as progress:
        task = progress.add_task(f"{config.method}", total=total_steps, completed=state.step, loss="-", tokens_per_s="-")
        for step, micro_batches in plan.iterate_steps(data.train, config.run_seed, state.step, total_steps, accelerator.process_index):
            torch.manual_seed(step_seed(config.run_seed, step, accelerator.process_index))
            step_loss, step_tokens = train_step(
                accelerator, loss_module, optimizer, micro_batches, config.max_grad_norm, bf16=config.precision == "bf16"
            )
            scheduler.step()
            state.step = step + 1
            state.tokens_seen += step_tokens
            state.train_time_s, state.cpu_time_s = clock.wall_s, clock.cpu_s
            if state.step % config.log_every == 0 or state.step == total_steps:
                state.loss_curve.append(
                    {"step": state.step, "tokens_seen": state.tokens_seen, "loss": step_loss, "learning_rate": scheduler.get_last_lr()[0]}
                )
            if data.eval and config.eval_every and state.step % config.eval_every == 0 and state.step < total_steps:
                with clock.paused():  # evaluation is not training time
                    state.eval_curve.append(evaluation_point(state.step, objective, loss_module, data, plan, config))
            if config.save_every and state.step % config.save_every == 0 and state.step < total_steps:
                unwrapped = accelerator.unwrap_model(loss_module).model
                written = write_checkpoint(accelerator, run_dir, strategy, unwrapped, optimizer, scheduler, state)
                if is_main:
                    upload_checkpoint(config.out, written)
            tokens_per_s = state.tokens_seen / max(state.train_time_s, 1e-9)
            progress.update(task, completed=state.step, loss=f"{step_loss:.4f}", tokens_per_s=f"{tokens_per_s:,.0f}")
    state.train_time_s, state.cpu_time_s = clock.wall_s, clock.cpu_s

    # --- evaluate and save ---
    if data.eval:
        state.eval_curve.append(evaluation_point(state.step, objective, loss_module, data, plan, config))
    accelerator.wait_for_everyone()
    training_peak_bytes, peak_kind = peak_memory()
    record = finished_record(record, state, (loading_peak_bytes, training_peak_bytes), peak_kind, sampler.load())
    weights = gathered_weights(accelerator, loss_module, strategy)
    if is_main:
        save_artifact(run_dir, accelerator.unwrap_model(loss_module).model, method, tokenizer, base, record, weights)
        upload_run(config.out, run_dir, last=ARTIFACT_COMPLETE_MARKERS)
        record = read_run_record(run_dir)
        console.print(summary_table(record))
    accelerator.wait_for_everyone()
    if accelerator.is_local_main_process:
        remove_staging(config.out)
    return TrainedRun(record=record, model=accelerator.unwrap_model(loss_module).model)


def train_step(
    accelerator, loss_module, optimizer, micro_batches: list, max_grad_norm: float | None, bf16: bool = False
) -> tuple[float, int]:
    """One optimizer step. The summed loss is divided by the target tokens of the whole step (all
    micro-batches, all processes), so accumulation gives the gradient of one big batch."""
    local_targets = sum(mb.target_tokens for mb in micro_batches)
    local_tokens = sum(mb.tokens for mb in micro_batches)
    counts = accelerator.reduce(torch.tensor([local_targets, local_tokens], device=accelerator.device), reduction="sum")
    global_targets, global_tokens = int(counts[0]), int(counts[1])
    scale = accelerator.num_processes / max(global_targets, 1)  # DDP averages gradients over processes
    step_loss_sum = 0.0
    for index, micro_batch in enumerate(micro_batches):
        is_last = index == len(micro_batches) - 1
        accelerator.sync_gradients = is_last  # DeepSpeed steps at the step's last micro-batch only
        autocast = torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=bf16)
        with accelerator.no_sync(loss_module) if not is_last else nullcontext(), autocast:
            loss_sum = loss_module(**{k: v.to(accelerator.device) for k, v in micro_batch.tensors.items()})
            accelerator.backward(loss_sum * scale)
        step_loss_sum += float(loss_sum.detach())
    if max_grad_norm is not None:
        accelerator.clip_grad_norm_(loss_module.parameters(), max_grad_norm)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    total_loss = float(accelerator.reduce(torch.tensor(step_loss_sum, device=accelerator.device), reduction="sum"))
    return total_loss / max(global_targets, 1), global_tokens


def first_epoch_batches(plan: BatchPlan, data: PreparedData, seed: int, rank: int):
    """The tensors of this process's micro-batches of the first epoch, in training order."""
    for _, micro_batches in plan.iterate_steps(data.train, seed, 0, plan.steps_per_epoch(data.train), rank):
        yield from (micro_batch.tensors for micro_batch in micro_batches)


def method_packing(config: TrainConfig, method: FineTuningMethod) -> tuple[TrainConfig, str | None]:
    """The config to train with, and why packing was turned off (None when it was not)."""
    if config.packing and method.packing_refusal:
        return config.model_copy(update={"packing": False}), method.packing_refusal
    return config, None


def step_seed(seed: int, step: int, rank: int) -> int:
    """Dropout randomness is a function of (seed, step, rank): resuming needs no RNG snapshot."""
    return (seed * 1_000_003 + step * 10_007 + rank) % (2**63)


def planned_steps(config: TrainConfig, plan: BatchPlan, data: PreparedData) -> int:
    per_epoch = plan.steps_per_epoch(data.train)
    if per_epoch == 0:
        raise ConfigError(
            f"micro_batch_size × grad_accum × processes = {config.micro_batch_size} × {config.grad_accum} × "
            f"{plan.world_size} needs more rows than the {len(data.train)} training examples; lower them or add data"
        )
    return config.max_steps or per_epoch * config.epochs


def evaluation_point(step: int, objective: TrainingObjective, loss_module, data: PreparedData, plan: BatchPlan, config: TrainConfig) -> dict:
    unwrapped = loss_module.module if hasattr(loss_module, "module") else loss_module
    return {"step": step} | objective.evaluate(unwrapped, data, plan, config)


def check_run_dir(run_dir: Path, resume: bool) -> None:
    """Refuse a folder the run would mix with; then drop the hidden temporaries a killed run left."""
    if resume:
        if not (run_dir / RUN_RECORD_FILE).is_file():
            raise ConfigError(f"{run_dir}: nothing to resume (no {RUN_RECORD_FILE})")
        if read_run_record(run_dir).status == "completed":
            raise ConfigError(f"{run_dir}: the run has completed; there is nothing to resume")
    else:
        create_run_dir(run_dir)
        if not all(map(atomic.is_leftover, run_dir.iterdir())):
            raise ConfigError(f"{run_dir}: output folder is not empty; choose another --out, or --resume an interrupted run")
    for folder in (run_dir, run_dir / CHECKPOINTS_DIR):
        atomic.remove_leftovers(folder)


def new_record(config: TrainConfig, base: ResolvedModel, data: PreparedData, method: FineTuningMethod, model) -> RunRecord:
    return RunRecord(
        run_id=uuid.uuid4().hex,
        created_at=datetime.now(timezone.utc),
        status="running",
        method=config.method,
        config=config.model_dump(mode="json"),
        base_model=BaseModelInfo(spec=base.spec, model_id=base.model_id, path=str(base.path), weights_sha256=base.weights_sha256),
        data=data.info,
        params=method.parameter_counts(model, count_parameters(base.path, allow_pickle=config.allow_pickle)),
        environment=environment_info(),
    )


def finished_record(record: RunRecord, state: LoopState, peaks: tuple[int, int], peak_kind: str, load: MachineLoad) -> RunRecord:
    """`peaks`: (loading, training loop) peak memory in bytes; `load`: the machine's, sampled while training."""
    final_eval = state.eval_curve[-1] if state.eval_curve else None
    metrics = RunMetrics(
        peak_memory_bytes=max(peaks),
        peak_memory_kind=peak_kind,
        training_peak_memory_bytes=peaks[1],
        wall_time_s=state.train_time_s,
        process_cpu_time_s=state.cpu_time_s,
        tokens_seen=state.tokens_seen,
        tokens_per_s=state.tokens_seen / max(state.train_time_s, 1e-9),
        steps=state.step,
        final_train_loss=state.loss_curve[-1]["loss"] if state.loss_curve else None,
        eval_loss=final_eval["loss"] if final_eval else None,
        eval_perplexity=final_eval.get("perplexity") if final_eval else None,
    )
    return RunRecord.model_validate(
        record.model_dump()
        | {
            "status": "completed",
            "finished_at": datetime.now(timezone.utc),
            "metrics": metrics,
            "loss_curve": state.loss_curve,
            "eval_curve": state.eval_curve,
            "load": load,
        }
    )


def save_artifact(
    run_dir: Path, model, method: FineTuningMethod, tokenizer, base: ResolvedModel, record: RunRecord, weights: dict | None = None
) -> None:
    """Stage every file, then move them in by rename: the loader's entry file (adapter_config.json or
    config.json) after every other artifact file, run.json last. After a kill midway no loader finds a
    partial artifact, run.json still says `running`, and `--resume` publishes the artifact again.
    `weights`: the model's state dict gathered from sharded processes (None: `model` is whole)."""
    staged = Path(atomic.make_staging_dir(run_dir))
    method.save(model, staged, base, weights)
    tokenizer.save_pretrained(staged)
    files = sorted(p.name for p in staged.iterdir())
    size = sum(p.stat().st_size for p in staged.iterdir() if p.is_file() and p.suffix == ".safetensors")
    finished = record.model_copy(update={"artifact": ArtifactInfo(kind=method.artifact_kind, files=files, size_bytes=size)})
    atomic.write_json(staged / RUN_RECORD_FILE, finished.model_dump(mode="json"))
    atomic.publish_files(staged, run_dir, last=ARTIFACT_COMPLETE_MARKERS)
