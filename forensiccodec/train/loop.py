"""The one training loop every ``fcc train-*`` command uses.

Pluggable: the loss (``loss_fn(model_output, batch) -> {"loss": Tensor, ...}``) and the set
of trainable parameters. Fixed: Adam on the trainable parameters, a second Adam on the entropy
model's ``quantiles`` (trained by ``model.aux_loss()`` only, as in CompressAI), gradient-norm
clipping, a step-wise learning-rate schedule, atomic checkpoints with exact resume, DDP under
torchrun, rich progress and a JSON-lines log.

Validation (optional): ``validate(step) -> {"metric": value, ...}`` is called on the main
process every ``validate_every`` steps and once at the end (with ``validate_at_start``, also
before the first step of a fresh run), while the other processes wait.
It evaluates the unwrapped model (which it closes over) and may switch it to eval mode; every
module's train/eval mode is put back afterwards, and the global RNG is forked around the call
so that validating changes nothing about training (exact resume still holds). Each result is
logged as ``{"step": s, "validation": {...}}``, shown in the progress line, kept in the
checkpoint (so the history survives a resume) and returned in :class:`TrainResult`.

Weight averaging (optional, ``ema_decay``): a moving average of the trainable weights
(`weight_average`) is what every validation scores, and the model ends training holding it;
the checkpoint keeps both the trained weights and the average, so a resume stays exact.

Batches: the dataset yields image tensors (or tuples whose first element is the image
tensor); the model is called on the images and ``loss_fn`` receives the whole batch.
``batch_size`` is per process, so the global batch is ``batch_size * world_size``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from forensiccodec.errors import FccError
from forensiccodec.train import distributed, precision
from forensiccodec.train.distributed import DistributedContext
from forensiccodec.train.weight_average import WeightAverage

CHECKPOINT_NAME = "last.pt"
LOG_NAME = "train_log.jsonl"
CHECKPOINT_FORMAT = 1
AUX_PARAMETER_SUFFIX = "quantiles"
MAX_SKIPPED_STEPS_IN_A_ROW = 20

LossFn = Callable[[Any, Any], dict[str, Any]]
Validate = Callable[[int], dict[str, float]]  # step -> metrics, main process only


class TrainingError(FccError):
    """Training cannot start or continue (bad configuration, missing checkpoint, divergence)."""


@dataclass
class TrainConfig:
    """How to train. Give ``steps`` or ``epochs`` (steps win when both are set)."""

    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 8  # per process
    lr: float = 3e-4  # 1e-4 (TransTIC) converged more slowly in our short runs
    aux_lr: float = 1e-3
    clip_grad: float | None = 1.0
    lr_milestones: tuple[float, ...] = (0.6, 0.9)  # fractions of the total steps
    lr_gamma: float = 0.5
    # Linear ramp of the learning rate over the first steps of a run. For fine-tunes: Adam's
    # first updates, with empty moment estimates, move every weight by about lr at once.
    warmup_steps: int = 0
    crop_size: int = 256  # used by whoever builds the dataset; recorded in checkpoints
    num_workers: int = 0
    checkpoint_dir: str | None = None
    checkpoint_every: int = 500  # steps; a checkpoint is also written at the end
    resume: bool = False
    seed: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1"
    log_every: int = 10
    # A time budget: the run stops cleanly, checkpoint written, before this many seconds have
    # passed (it predicts the next step, the validation and the checkpoint from their last run).
    max_seconds: float | None = None
    precision: str = "fp32"  # "auto": bf16 autocast where the device runs it natively
    compile: bool = False  # torch.compile the model (pays off after a few hundred steps)
    find_unused_parameters: bool = False
    progress: bool = True
    validate_every: int | None = None  # steps; with a validate callable (also run at the end)
    # Also validate the starting weights (step 0) of a fresh run: a fine-tune's starting point
    # is a candidate too, so that keeping the best validation never exports something worse.
    validate_at_start: bool = False
    # Validate and end with a moving average of the trainable weights (None: the weights as
    # trained); e.g. 0.99 averages over about the last 100 steps.
    ema_decay: float | None = None
    validation_metric: str = "loss"  # which metric picks TrainResult.best_validation
    validation_higher_is_better: bool = False
    extra: dict[str, Any] = field(default_factory=dict)  # recorded, e.g. {"quality": 3}

    def __post_init__(self) -> None:
        if self.steps is None and self.epochs is None:
            raise TrainingError("give either steps or epochs")
        for name in ("steps", "epochs", "batch_size", "checkpoint_every", "log_every", "validate_every"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TrainingError(f"{name} must be at least 1, got {value}")
        if self.warmup_steps < 0:
            raise TrainingError(f"warmup_steps must be 0 or more, got {self.warmup_steps}")
        if self.lr <= 0 or self.aux_lr <= 0:
            raise TrainingError("learning rates must be positive")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise TrainingError(f"ema_decay must be between 0 and 1, got {self.ema_decay}")
        if self.precision not in precision.PRECISIONS:
            raise TrainingError(f"precision must be one of {', '.join(precision.PRECISIONS)}, got {self.precision!r}")
        if self.max_seconds is not None and self.max_seconds < 0:
            raise TrainingError(f"the time budget must not be negative, got {self.max_seconds} s")
        self.lr_milestones = tuple(self.lr_milestones)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lr_milestones"] = list(self.lr_milestones)
        return d


@dataclass(frozen=True)
class TrainResult:
    steps: int  # total optimiser steps taken so far (including before a resume)
    metrics: dict[str, float]  # means over the last logging window
    checkpoint: Path | None
    log_file: Path | None
    seconds: float  # wall-clock time of this run
    stopped_early: bool  # max_seconds ran out before the last step
    total_seconds: float = 0.0  # training time of every stint of the run, resumes included
    precision: str = "fp32"  # what the run computed in (the resolved config.precision)
    # every validation of the run, {"step": s, **metrics}, including those before a resume
    # (main process only: empty on the others)
    validations: list[dict[str, float]] = field(default_factory=list)
    best_validation: dict[str, float] | None = None  # by config.validation_metric


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """The learning rate for optimiser step ``step`` (0-based): multiplied by ``lr_gamma`` at
    each milestone fraction of ``total_steps`` passed, and by ``(step + 1) / warmup_steps``
    during the warm-up."""
    passed = sum(step >= int(m * total_steps) for m in config.lr_milestones)
    ramp = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    return config.lr * config.lr_gamma**passed * ramp


def aux_parameter_names(model: nn.Module) -> list[str]:
    """The entropy model's quantiles: trained by the auxiliary loss only."""
    return [n for n, p in model.named_parameters() if n.endswith(AUX_PARAMETER_SUFFIX) and p.requires_grad]


def train_codec(
    model: nn.Module,
    dataset: Dataset,
    loss_fn: LossFn,
    config: TrainConfig,
    trainable_parameters: Iterable[nn.Parameter] | None = None,
    context: DistributedContext | None = None,
    validate: Validate | None = None,
    validation_seconds: float | None = None,
) -> TrainResult:
    """Train ``model`` on ``dataset`` with ``loss_fn``; see the module docstring.

    ``trainable_parameters`` defaults to every parameter that requires a gradient; the
    quantiles are always left to the auxiliary optimiser. ``context`` defaults to
    :func:`distributed.setup_distributed` (torchrun's environment, or one process).
    ``validate`` runs every ``config.validate_every`` steps (if set) and at the end.
    ``validation_seconds``: what one validation is expected to cost, for the time budget until
    one has run (a resume's checkpoint knows better and replaces it).
    """
    context = context or distributed.setup_distributed(config.device)
    if context.device.type == "cuda":
        # TF32 matmuls; convolutions already use TF32 by default in cuDNN.
        torch.set_float32_matmul_precision("high")
    model.to(context.device).train()
    run = _Run.start(model, trainable_parameters, config, context)
    if validation_seconds is not None:
        run.clock.last["validation"] = validation_seconds
    start_step, validations = run.restore_or_seed()
    sampler = DistributedSampler(
        dataset, num_replicas=context.world_size, rank=context.rank,
        shuffle=True, seed=config.seed, drop_last=True,
    )
    batches_per_epoch = len(sampler) // config.batch_size
    if batches_per_epoch < 1:
        raise TrainingError(
            f"the dataset has {len(dataset)} items, fewer than one batch of {config.batch_size} "
            f"per process x {context.world_size} processes"
        )
    total_steps = config.steps if config.steps is not None else config.epochs * batches_per_epoch
    logger = _Logger(run.checkpoint_dir, context, config, total_steps, start_step, run.clock)
    validator = _Validator(validate, model, config, context, logger, validations, run.average, run.clock)
    if config.validate_at_start and start_step == 0:
        validator.run(0)
    try:
        batches = _batches(dataset, sampler, config, context, batches_per_epoch, start_step, total_steps)
        step, stopped_early = run.steps(batches, loss_fn, start_step, total_steps, logger, validator)
        logger.flush(step, learning_rate(config, max(step - 1, 0), total_steps))
        validator.run(step)  # the final weights (a no-op if this step was just validated)
        run.save(step, validator.history)
        distributed.barrier(context)
        if run.average is not None:  # after the checkpoint, which keeps the trained weights
            run.average.copy_to_parameters()
    finally:
        logger.close()
    return TrainResult(
        steps=step, metrics=logger.last_metrics, checkpoint=run.checkpoint_path,
        log_file=logger.path, seconds=run.clock.elapsed(), stopped_early=stopped_early,
        validations=list(validator.history), best_validation=validator.best(),
        total_seconds=run.clock.total(), precision=run.precision,
    )


@dataclass
class _Run:
    """What one training run holds between steps: the model (and its DDP/compiled wrapper), the
    two optimisers and their parameters, the weight average, the clock and the checkpoint."""

    model: nn.Module
    wrapped: nn.Module
    main_parameters: list[nn.Parameter]
    aux_parameters: list[nn.Parameter]
    optimizer: torch.optim.Optimizer
    aux_optimizer: torch.optim.Optimizer | None
    config: TrainConfig
    context: DistributedContext
    precision: str
    clock: _Clock
    checkpoint_dir: Path | None
    average: WeightAverage | None = None

    @classmethod
    def start(cls, model: nn.Module, trainable: Iterable[nn.Parameter] | None, config: TrainConfig,
              context: DistributedContext) -> _Run:
        aux_names = aux_parameter_names(model)
        named = dict(model.named_parameters())
        aux_parameters = [named[n] for n in aux_names]
        aux_ids = {id(p) for p in aux_parameters}
        source = trainable if trainable is not None else model.parameters()
        main_parameters = [p for p in source if p.requires_grad and id(p) not in aux_ids]
        if not main_parameters:
            raise TrainingError("no trainable parameters")
        has_aux = bool(aux_parameters) and hasattr(model, "aux_loss")
        wrapped = distributed.wrap_model(
            model, context, ignored_parameter_names=aux_names, find_unused_parameters=config.find_unused_parameters,
        )
        return cls(
            model=model, wrapped=torch.compile(wrapped) if config.compile else wrapped,
            main_parameters=main_parameters, aux_parameters=aux_parameters,
            optimizer=_adam(main_parameters, config.lr, context.device),
            aux_optimizer=_adam(aux_parameters, config.aux_lr, context.device) if has_aux else None,
            config=config, context=context, precision=precision.resolve_precision(config.precision, context.device),
            clock=_Clock(config.max_seconds), checkpoint_dir=Path(config.checkpoint_dir) if config.checkpoint_dir else None,
        )

    @property
    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / CHECKPOINT_NAME if self.checkpoint_dir else None

    def restore_or_seed(self) -> tuple[int, list[dict[str, float]]]:
        """Load the checkpoint of a resumed run, or seed a fresh one; returns the first step and
        the validation history so far. Starts the weight average once the weights are in."""
        start_step, validations, average_state = 0, [], None
        if self.config.resume:
            path = self.checkpoint_path
            if path is None or not path.is_file():
                raise TrainingError(f"--resume: no checkpoint at {path}")
            restored = _load_checkpoint(path, self.model, self.optimizer, self.aux_optimizer, self.context, self.config)
            start_step, validations, average_state = restored.step, restored.validations, restored.average_state
            self.clock.before = restored.total_seconds
            self.clock.last.update(restored.timings)  # this stint's budget knows a validation's cost from the start
        else:
            torch.manual_seed(self.config.seed * 1000 + self.context.rank)  # quantisation noise, per process
        if self.config.ema_decay is not None:
            # an older checkpoint without an average starts one at its weights
            self.average = WeightAverage(self.main_parameters, self.config.ema_decay)
            if average_state is not None:
                try:
                    self.average.load_state_dict(average_state)
                except ValueError as error:
                    raise TrainingError(f"checkpoint {self.checkpoint_path}: {error}") from error
        return start_step, validations

    def steps(self, batches: Iterable[Any], loss_fn: LossFn, step: int, total_steps: int, logger: _Logger,
              validator: _Validator) -> tuple[int, bool]:
        """Train on ``batches`` from ``step``; returns the step reached and whether the time
        budget stopped it."""
        config, skipped_in_a_row = self.config, 0
        # A validation follows whichever step turns out to be the last: a periodic one when it
        # is due, else the final one that runs after a stop, so the budget always reserves one.
        validating = validator.validate is not None
        for batch in batches:
            if config.max_seconds is not None and distributed.broadcast_flag(
                self.clock.would_overrun(validating), self.context
            ):
                return step, True
            lr = learning_rate(config, step, total_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            with self.clock.timing("step"):
                metrics, finite = _train_step(
                    self.wrapped, self.model, batch, loss_fn, self.optimizer, self.aux_optimizer,
                    self.aux_parameters, self.main_parameters, config, self.context, self.precision,
                )
            if finite and self.average is not None:
                self.average.update()
            skipped_in_a_row = 0 if finite else skipped_in_a_row + 1
            if skipped_in_a_row > MAX_SKIPPED_STEPS_IN_A_ROW:
                raise TrainingError(f"training diverged: non-finite gradients for {skipped_in_a_row} steps at step {step}")
            step += 1
            logger.record(step, lr, metrics, skipped=not finite)
            if config.validate_every is not None and step % config.validate_every == 0:
                validator.run(step)  # before the checkpoint, so that the checkpoint holds it
            if step % config.checkpoint_every == 0 and step < total_steps:
                with self.clock.timing("checkpoint"):
                    self.save(step, validator.history)
        return step, False

    def save(self, step: int, validations: list[dict[str, float]]) -> None:
        if self.checkpoint_path is not None:
            _save_checkpoint(self.checkpoint_path, self.model, self.optimizer, self.aux_optimizer, step, self.config,
                             self.context, validations, self.average, self.clock.total(), dict(self.clock.last))


def _adam(parameters: list[nn.Parameter], lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam, fused into one kernel where torch has one for the device (CPU and CUDA): the
    per-parameter Python loop of the default implementation costs more than the arithmetic
    for a small model."""
    fused = device.type in ("cpu", "cuda") and all(p.dtype.is_floating_point for p in parameters)
    return torch.optim.Adam(parameters, lr=lr, fused=fused or None)


class _Clock:
    """Wall time of a run, its past stints (resumes) and the time budget.

    ``would_overrun`` predicts whether one more step, the validation after it (when the run
    validates) and the final checkpoint would pass the budget, from the last time each of those
    took (carried over from the checkpoint on a resume).
    """

    def __init__(self, budget: float | None) -> None:
        self.budget = budget
        self.started = time.monotonic()
        self.before = 0.0  # seconds of the run's earlier stints, from the checkpoint
        self.last: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def total(self) -> float:
        return self.before + self.elapsed()

    @contextlib.contextmanager
    def timing(self, what: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.last[what] = time.monotonic() - start

    def would_overrun(self, validating: bool) -> bool:
        if self.budget is None:
            return False
        ahead = self.last.get("step", 0.0) + self.last.get("checkpoint", 0.0)
        if validating:
            ahead += self.last.get("validation", 0.0)
        return self.elapsed() + ahead > self.budget


def _train_step(
    wrapped: nn.Module,
    model: nn.Module,
    batch: Any,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    aux_optimizer: torch.optim.Optimizer | None,
    aux_parameters: list[nn.Parameter],
    main_parameters: list[nn.Parameter],
    config: TrainConfig,
    context: DistributedContext,
    compute_precision: str = "fp32",
) -> tuple[dict[str, Tensor], bool]:
    """One optimiser step (+ one auxiliary step); returns scalar metrics and whether the
    gradients were finite (the update is skipped otherwise, identically on every process,
    because DDP has already averaged the gradients the norm is computed from)."""
    batch = _to_device(batch, context.device)
    images = batch[0] if isinstance(batch, (tuple, list)) else batch
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast(compute_precision, context.device):
        output = wrapped(images)
    losses = loss_fn(output, batch)  # outside autocast: the loss is taken in float32
    losses["loss"].backward()
    if config.clip_grad is not None:
        norm = torch.nn.utils.clip_grad_norm_(main_parameters, config.clip_grad)
    else:
        norm = torch.nn.utils.get_total_norm([p.grad for p in main_parameters if p.grad is not None])
    finite = bool(torch.isfinite(norm))  # the one GPU synchronisation per step
    if finite:
        optimizer.step()
    metrics = {k: _detached(v) for k, v in losses.items() if isinstance(v, (Tensor, float, int)) and _is_scalar(v)}
    metrics["grad_norm"] = norm.detach()
    if aux_optimizer is not None:
        aux_optimizer.zero_grad(set_to_none=True)
        aux_loss = model.aux_loss()
        aux_loss.backward()
        distributed.all_reduce_gradients(aux_parameters, context)
        aux_optimizer.step()
        metrics["aux"] = aux_loss.detach()
    return metrics, finite


def _batches(
    dataset: Dataset,
    sampler: DistributedSampler,
    config: TrainConfig,
    context: DistributedContext,
    batches_per_epoch: int,
    start_step: int,
    total_steps: int,
) -> Iterator[Any]:
    """Batches for steps start_step..total_steps-1. Each epoch's order depends only on
    (seed, epoch), and a resumed run skips the indices already consumed in its epoch, so a
    resumed run sees exactly the batches an uninterrupted one would have seen."""
    step = start_step
    while step < total_steps:
        epoch, offset = divmod(step, batches_per_epoch)
        sampler.set_epoch(epoch)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        indices = list(sampler)[offset * config.batch_size : batches_per_epoch * config.batch_size]
        # A private generator: creating the loader must not consume the global RNG, which
        # drives the quantisation noise and is part of the checkpoint.
        generator = torch.Generator().manual_seed(config.seed * 7919 + epoch * 31 + context.rank)
        loader = DataLoader(
            dataset, batch_size=config.batch_size, sampler=indices, drop_last=True,
            num_workers=config.num_workers, pin_memory=context.device.type == "cuda",
            generator=generator, persistent_workers=False,
        )
        for batch in loader:
            if step >= total_steps:
                return
            yield batch
            step += 1


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: _to_device(value, device) for key, value in batch.items()}
    return batch


def _detached(value: Tensor | float) -> Tensor:
    return value.detach().reshape(()) if isinstance(value, Tensor) else torch.tensor(float(value))


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, Tensor) or value.numel() == 1


# --- checkpoints -------------------------------------------------------------------------------


def _save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    aux_optimizer: torch.optim.Optimizer | None,
    step: int,
    config: TrainConfig,
    context: DistributedContext,
    validations: list[dict[str, float]] | None = None,
    average: WeightAverage | None = None,
    total_seconds: float = 0.0,
    timings: dict[str, float] | None = None,
) -> None:
    """Written by rank 0 only, to a temporary file then renamed, so a crash mid-write never
    leaves a truncated checkpoint. Every process's RNG state is gathered into it."""
    rng_states = distributed.gather_objects(_rng_state(context.device), context)
    if not context.is_main:
        return
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "aux_optimizer": aux_optimizer.state_dict() if aux_optimizer is not None else None,
        "rng": rng_states,
        "world_size": context.world_size,
        "config": config.to_dict(),
        "validations": list(validations or []),  # added later: older checkpoints lack it
        "weight_average": average.state_dict() if average is not None else None,  # likewise
        "total_seconds": total_seconds,  # training time of all stints so far; likewise
        "timings": dict(timings or {}),  # the last step, validation and checkpoint times; likewise
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)


class _Restored(NamedTuple):
    step: int
    validations: list[dict[str, float]]
    average_state: dict[str, Any] | None  # None when the checkpoint has no weight average
    total_seconds: float  # training time of the earlier stints
    timings: dict[str, float]  # the last step, validation and checkpoint times, for the budget


def _load_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    aux_optimizer: torch.optim.Optimizer | None,
    context: DistributedContext,
    config: TrainConfig,
) -> _Restored:
    """Restore the model, optimisers and RNG; return what the run needs besides them."""
    try:
        state = torch.load(path, map_location=context.device, weights_only=True)
    except Exception as error:  # torch raises several unrelated types for a bad file
        raise TrainingError(f"cannot read checkpoint {path}: {error}") from error
    if state.get("format") != CHECKPOINT_FORMAT:
        raise TrainingError(f"checkpoint {path} has an unknown format {state.get('format')!r}")
    check_same_run(state.get("config") or {}, config, path)
    from forensiccodec.train.legacy_checkpoints import upgrade_checkpoint

    upgrade_checkpoint(state)  # written before the entropy models came from CompressAI
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if aux_optimizer is not None and state["aux_optimizer"] is not None:
            aux_optimizer.load_state_dict(state["aux_optimizer"])
    except (RuntimeError, ValueError, KeyError) as error:
        raise TrainingError(f"checkpoint {path} does not match this model: {error}") from error
    rng = state["rng"]
    if len(rng) == context.world_size:
        _set_rng_state(rng[context.rank], context.device)
    else:  # a different number of processes: a fresh, still deterministic, noise stream
        torch.manual_seed(hash((state["step"], context.rank)) % 2**31)
    return _Restored(
        step=int(state["step"]),
        validations=[dict(record) for record in state.get("validations") or []],
        average_state=state.get("weight_average"),
        total_seconds=float(state.get("total_seconds") or 0.0),
        timings={str(k): float(v) for k, v in (state.get("timings") or {}).items()},
    )


# Settings a resumed run may change: how long it runs, where and how it reports. Every other
# setting (batch, learning rate and schedule, crops, seed, and everything in ``extra``: the
# loss's λ, the placement, the data...) defines the run, and a resume that changed one would
# silently train a mixture of two runs under one record.
RESUMABLE_CHANGES = frozenset({
    "steps", "epochs", "checkpoint_dir", "checkpoint_every", "resume", "device", "log_every",
    "max_seconds", "progress", "validate_every", "validate_at_start", "num_workers", "find_unused_parameters",
    "precision", "compile",
})


def check_same_run(saved: dict[str, Any], config: TrainConfig, path: Path) -> None:
    """Refuse a resume whose settings differ from the checkpoint's (see ``RESUMABLE_CHANGES``).
    Settings the checkpoint does not record (older checkpoints) are not checked."""
    current = config.to_dict()
    pairs = [(name, saved[name], current[name]) for name in current
             if name not in RESUMABLE_CHANGES and name != "extra" and name in saved]
    saved_extra, current_extra = saved.get("extra") or {}, current["extra"]
    pairs += [(name, saved_extra[name], current_extra[name]) for name in current_extra if name in saved_extra]
    for name, before, now in pairs:
        if not _same_setting(before, now):
            raise TrainingError(
                f"--resume: the checkpoint {path} was trained with {name}={before!r}, this run asks for "
                f"{now!r}; resume with the same settings, or start a new --checkpoint-dir"
            )


def _same_setting(before: Any, now: Any) -> bool:
    if isinstance(before, (list, tuple)) and isinstance(now, (list, tuple)):
        return list(before) == list(now)
    if before == now:
        return True
    # the same folder given another way ("data" vs "./data"): the same run
    return isinstance(before, str) and isinstance(now, str) and os.path.exists(before) and os.path.exists(now) \
        and os.path.samefile(before, now)


def _rng_state(device: torch.device) -> dict[str, Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


# --- validation --------------------------------------------------------------------------------


class _Validator:
    """Calls ``validate`` on the main process (the others wait), keeps the history and logs it.

    Every process calls :meth:`run` at the same steps: it ends with a broadcast of "did the
    callable fail", which is both the barrier and the way an error on the main process stops
    every process instead of leaving them waiting.
    """

    def __init__(
        self, validate: Validate | None, model: nn.Module, config: TrainConfig,
        context: DistributedContext, logger: _Logger, history: list[dict[str, float]],
        average: WeightAverage | None = None, clock: _Clock | None = None,
    ) -> None:
        self.validate = validate
        self.clock = clock
        self.model = model
        self.config = config
        self.context = context
        self.logger = logger
        self.average = average  # when set, validations score the averaged weights
        # From the checkpoint on a resume; kept by the main process only (the others never
        # see the metrics), but every process knows the last validated step.
        self.history = history if context.is_main else []
        self.last_step = int(history[-1]["step"]) if history else None

    def run(self, step: int) -> None:
        if self.validate is None or step == self.last_step:
            return
        self.last_step = step
        metrics, error = None, None
        if self.context.is_main:
            try:
                with self.clock.timing("validation") if self.clock else contextlib.nullcontext():
                    metrics = self._call(step)
            except Exception as caught:  # noqa: BLE001 - re-raised below, once every process knows
                error = caught
        if distributed.broadcast_flag(error is not None, self.context):
            if error is not None:
                raise error
            raise TrainingError(f"validation failed on the main process at step {step}")
        if metrics is not None:
            self.history.append({"step": step, **metrics})
            self.logger.validation(step, metrics)

    def _call(self, step: int) -> dict[str, float]:
        """The callable, with every module's train/eval mode put back afterwards and the
        global RNGs (torch, CUDA, NumPy, Python) untouched, so that training goes on exactly
        as it would have without validation (and the trained weights back in place of the
        averaged ones it scored)."""
        modes = [(module, module.training) for module in self.model.modules()]
        devices = [self.context.device] if self.context.device.type == "cuda" else []
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            with torch.random.fork_rng(devices=devices), self._weights():
                raw = self.validate(step)
        finally:
            for module, training in modes:
                module.training = training
            np.random.set_state(numpy_state)
            random.setstate(python_state)
        return _validation_metrics(raw)

    def _weights(self) -> contextlib.AbstractContextManager[None]:
        return self.average.swapped_in() if self.average is not None else contextlib.nullcontext()

    def best(self) -> dict[str, float] | None:
        """The record with the best ``validation_metric`` (the earliest among equals)."""
        key = self.config.validation_metric
        sign = 1.0 if self.config.validation_higher_is_better else -1.0
        candidates = [r for r in self.history if key in r and math.isfinite(r[key])]
        if not candidates:
            return None
        return max(candidates, key=lambda record: sign * record[key])  # max keeps the first


def _validation_metrics(raw: Any) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise TrainingError(f"validate must return a dict of metrics, got {type(raw).__name__}")
    metrics = {}
    for key, value in raw.items():
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TrainingError(f"validation metric {key!r} is not a number: {value!r}")
        metrics[str(key)] = float(value)
    return metrics


# --- progress and logging ----------------------------------------------------------------------


class _Logger:
    """Averages metrics over ``log_every`` steps (and over processes), appends them to
    train_log.jsonl and shows them in a rich progress bar (rank 0 only)."""

    def __init__(
        self, checkpoint_dir: Path | None, context: DistributedContext, config: TrainConfig,
        total_steps: int, start_step: int, clock: _Clock | None = None,
    ) -> None:
        self.context = context
        self.clock = clock
        self.config = config
        self.total_steps = total_steps
        self.sums: dict[str, Tensor] = {}  # kept on the device until a window is written
        self.count = 0
        self.last_metrics: dict[str, float] = {}
        self.window_started = time.monotonic()
        self.path = checkpoint_dir / LOG_NAME if checkpoint_dir and context.is_main else None
        self.file = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open("a", encoding="utf-8")
        self.progress = None
        if context.is_main and config.progress:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"), TextColumn("{task.fields[validation]}"),
            )
            self.task = self.progress.add_task(
                "train", total=total_steps, completed=start_step, metrics="", validation="",
            )
            self.progress.start()

    def record(self, step: int, lr: float, metrics: dict[str, Tensor], skipped: bool) -> None:
        metrics = {**metrics, "skipped": torch.tensor(float(skipped))}
        for key, value in metrics.items():  # non-finite values propagate: a visible warning
            value = value.to(self.context.device, torch.float64)
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1
        if step % self.config.log_every == 0 or step == self.total_steps:
            self.flush(step, lr)
        elif self.progress is not None:
            self.progress.update(self.task, completed=step)

    def flush(self, step: int, lr: float) -> None:
        """Write the current window (collective under DDP: every process must call it)."""
        if self.count == 0:
            return
        keys = sorted(self.sums)
        means = torch.stack([self.sums[k] for k in keys]) / self.count
        means = distributed.all_reduce_mean(means, self.context).cpu()
        self.last_metrics = dict(zip(keys, means.tolist()))
        seconds = time.monotonic() - self.window_started
        images = self.count * self.config.batch_size * self.context.world_size
        entry = {"step": step, "lr": lr, **self.last_metrics, "images_per_second": images / max(seconds, 1e-9)}
        if self.clock is not None:  # for learning curves against training time
            entry["train_seconds"] = round(self.clock.total(), 1)
        if self.file is not None:
            self.file.write(json.dumps(entry) + "\n")
            self.file.flush()
        if self.progress is not None:
            self.progress.update(self.task, completed=step, metrics=_format_metrics(self.last_metrics))
        self.sums, self.count, self.window_started = {}, 0, time.monotonic()

    def validation(self, step: int, metrics: dict[str, float]) -> None:
        """Log one validation (main process only): its own record, and the progress line."""
        if self.file is not None:
            record: dict[str, Any] = {"step": step, "validation": metrics}
            if self.clock is not None:
                record["train_seconds"] = round(self.clock.total(), 1)
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()
        if self.progress is not None:
            self.progress.update(self.task, validation=_format_validation(step, metrics))

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self.file is not None:
            self.file.close()


def _format_metrics(metrics: dict[str, float]) -> str:
    shown = [("loss", "loss {:.4f}"), ("bpp", "bpp {:.3f}"), ("psnr", "PSNR {:.2f}"), ("aux", "aux {:.1f}")]
    return "  ".join(fmt.format(metrics[key]) for key, fmt in shown if key in metrics)


def _format_validation(step: int, metrics: dict[str, float], shown: int = 4) -> str:
    values = "  ".join(f"{key} {value:.4g}" for key, value in list(metrics.items())[:shown])
    return f"[cyan]val@{step}  {values}"
