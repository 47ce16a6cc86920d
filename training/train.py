#!/usr/bin/env python3
"""Fine-tune or distill a sequence classifier; the entry point of the SageMaker training job.

    python train.py --train_dir data/train --model_name_or_path <dir> --epochs 1
    torchrun --nproc_per_node 2 train.py ...            # DDP, one process per GPU (gloo on CPU)

Spot-safe: a resumable checkpoint is written every --checkpoint_steps and on
SIGTERM, and a restarted job resumes from the newest intact one by itself.
"""

from __future__ import annotations

import logging
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import archives
import calibration
import checkpointing
import exporting
import hparams
import metrics
import modeling
import runtime
import text_data
import text_index
import token_lengths
import torch
import torch.distributed as dist
import torch.nn.functional as F
from contract import metric_line
from distillation import distillation_loss
from early_stopping import EarlyStopping
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger("train")
EXIT_INTERRUPTED = 143  # 128 + SIGTERM: the job stopped before finishing, by request
RESUME_KEYS = (
    "mode",
    "seed",
    "per_device_batch_size",
    "world_size",
    "total_steps",
    "labels",
    "student_layers",
    "early_stopping_patience",
    "best_metric",
    "eval_steps",
)


def linear_warmup_decay(step: int, *, warmup_steps: int, total_steps: int) -> float:
    """LR multiplier: linear warm-up to 1, then linear decay to 0 (as HF's linear schedule)."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


def main(argv: list[str] | None = None) -> int:
    # ---- args -------------------------------------------------------------------------------
    args = hparams.parse_args(argv)

    # ---- distributed / seed / device ----------------------------------------------------------
    rt = runtime.init_runtime(args.precision)
    logging.basicConfig(level=logging.INFO if rt.is_main else logging.WARNING, format="%(message)s", stream=sys.stdout)
    runtime.seed_everything(args.seed)
    stop = runtime.StopSignal()
    log.info("runtime: world_size=%d device=%s precision=%s", rt.world_size, rt.device, rt.dtype or "fp32")
    with tempfile.TemporaryDirectory(prefix="channels-") as scratch:
        # A channel may hold a job's model.tar.gz: unpacked once, here, for the whole run.
        student_path = teacher_path = None
        if not args.student_layers:
            student_path = archives.resolve_model(args.model_name_or_path, Path(scratch), field="--model_name_or_path")
        if args.mode == "distill":
            teacher_path = archives.resolve_model(
                args.teacher_name_or_path, Path(scratch), field="--teacher_name_or_path"
            )
        return train(args, rt, stop, student_path=student_path, teacher_path=teacher_path)


# One loop read top-down in labelled sections, as nanoGPT's train.py (the project's style, rule 4): its state is
# the one checkpoint dict, and splitting the sections into functions would pass that state through each of them.
def train(  # noqa: C901, PLR0912, PLR0915
    args, rt: runtime.Runtime, stop: runtime.StopSignal, *, student_path: str | None, teacher_path: str | None
) -> int:
    # ---- data ---------------------------------------------------------------------------------
    teacher = modeling.load_teacher(teacher_path) if teacher_path else None
    # A student cut from the teacher's layers (distill mode only, hparams checks) starts from the teacher.
    base_path = teacher_path if args.student_layers else student_path
    assert base_path is not None, "main() resolves the student, or the teacher a student is cut from"
    tokenizer = modeling.load_tokenizer(base_path)
    if teacher_path is not None and not args.student_layers:
        modeling.check_tokenizers_match(modeling.load_tokenizer(teacher_path), tokenizer)
    # Indexed, not loaded: the texts are read as batches need them (text_index), so the data may outgrow memory.
    train_index = text_index.TextIndex(args.train_dir, args.text_column, args.label_column)
    declared = [n for n in args.labels.split(",") if n] or (teacher and modeling.teacher_label_names(teacher)) or []
    names = text_data.label_names(train_index.label_examples(), declared)
    if teacher is not None:
        modeling.check_teacher_labels(teacher, names)
    if args.max_length == hparams.AUTO_MAX_LENGTH:
        # The data decides (token_lengths.py); the choice is logged and recorded with the training config.
        counted, window = token_lengths.counts(tokenizer, train_index.texts()), token_lengths.window(tokenizer)
        args.max_length = token_lengths.training_length(counted, window)
        summary = token_lengths.summary(counted, window)
        log.info("length: max_length=%d from the training texts (%s)", args.max_length, summary)
    train_set = train_index.encoded(tokenizer, names, args.max_length, args.long_text)
    val_set = None
    if args.validation_dir:
        val_index = text_index.TextIndex(args.validation_dir, args.text_column, args.label_column)
        text_data.label_names(val_index.label_examples(), names)  # fails on labels the model cannot predict
        val_set = val_index.encoded(tokenizer, names, args.max_length, args.long_text)
    lengths = train_set.lengths
    global_batch = args.per_device_batch_size * rt.world_size
    steps_per_epoch = len(train_set) // global_batch
    if steps_per_epoch == 0:
        raise text_data.DataError(
            f"{len(train_set)} training examples is less than one global batch ({global_batch}: "
            f"--per_device_batch_size {args.per_device_batch_size} x {rt.world_size} process(es), one per GPU of "
            "every instance). Fix: lower --per_device_batch_size, train on fewer instances, or add data."
        )
    log.info(
        "data: train=%d validation=%d labels=%s steps_per_epoch=%d",
        len(train_set),
        len(val_set) if val_set else 0,
        names,
        steps_per_epoch,
    )

    # ---- models -------------------------------------------------------------------------------
    if args.student_layers:
        assert teacher is not None, "--student_layers implies distill mode, which loads a teacher"
        model = modeling.student_from_teacher_layers(teacher, args.student_layers)
    else:
        model = modeling.load_classifier(base_path, names)
    if args.dropout >= 0:
        modeling.set_dropout(model, args.dropout)
    # transformers wraps PreTrainedModel.to in a decorator whose signature type checkers misread.
    model.to(rt.device)  # pyright: ignore[reportArgumentType]
    if teacher is not None:
        teacher.to(rt.device).eval()  # pyright: ignore[reportArgumentType]
    log.info(
        "model: %s parameters=%d%s",
        type(model).__name__,
        modeling.count_parameters(model),
        f" teacher_parameters={modeling.count_parameters(teacher)}" if teacher is not None else "",
    )

    # ---- optimizer / schedule -----------------------------------------------------------------
    total_steps = args.max_steps or math.ceil(args.epochs * steps_per_epoch)
    no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in named if not n.endswith(no_decay)], "weight_decay": args.weight_decay},
            {"params": [p for n, p in named if n.endswith(no_decay)], "weight_decay": 0.0},
        ],
        lr=args.learning_rate,
        fused=rt.device.type in ("cpu", "cuda"),  # one kernel for all parameters, as HF Trainer's default optimizer
    )
    schedule = partial(linear_warmup_decay, warmup_steps=int(args.warmup_ratio * total_steps), total_steps=total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    scaler = torch.amp.GradScaler(rt.device.type, enabled=rt.dtype == torch.float16)
    early = EarlyStopping(patience=args.early_stopping_patience, metric=args.best_metric)
    config = {
        **vars(args),
        "world_size": rt.world_size,
        "total_steps": total_steps,
        "labels": names,
        "dataset_version": text_data.dataset_version(args.train_dir),
    }
    parts = TrainingParts(model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler, early=early)

    # ---- resume -------------------------------------------------------------------------------
    step = 0
    state = checkpointing.load_latest_checkpoint(args.checkpoint_dir)
    if state is not None:
        _check_resumable(state["config"], config, args.checkpoint_dir)
        step = restore_training_state(state, parts, rt)
        log.info("resume: step=%d epoch=%d batch=%d from %s", step, *divmod(step, steps_per_epoch), args.checkpoint_dir)
    trained = DistributedDataParallel(model) if rt.distributed else model
    pad_id = tokenizer.pad_token_id or 0
    teacher_logits = None
    if teacher is not None and args.cache_teacher_logits:
        teacher_logits = _all_logits(teacher, train_set, args.eval_batch_size, pad_id, rt)
        log.info("teacher: cached logits for %d examples", len(teacher_logits))

    # ---- loop ---------------------------------------------------------------------------------
    batches: list[list[int]] = []
    batches_epoch = -1
    window_start, window_steps, window_loss = time.perf_counter(), 0, 0.0
    last_eval: dict = {}
    stopped_early = False
    while step < total_steps and not stopped_early:
        epoch, position = divmod(step, steps_per_epoch)
        if epoch != batches_epoch:
            batches = text_data.epoch_batches(
                lengths, global_batch, args.seed, epoch, group_by_length=args.group_by_length
            )
            batches_epoch = epoch
        mine = batches[position][rt.rank * args.per_device_batch_size : (rt.rank + 1) * args.per_device_batch_size]
        batch = {k: v.to(rt.device) for k, v in text_data.collate(train_set, mine, pad_id).items()}

        trained.train()
        with runtime.autocast(rt):
            logits = trained(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            if teacher is None:
                loss = F.cross_entropy(logits, batch["labels"])
            else:
                soft = (
                    teacher_logits[batch["index"].cpu()].to(rt.device)
                    if teacher_logits is not None
                    else _teacher_forward(teacher, batch)
                )
                loss = distillation_loss(logits, soft, batch["labels"], alpha=args.alpha, temperature=args.temperature)
        scaler.scale(loss).backward()
        if args.max_grad_norm > 0:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        window_steps += 1
        window_loss += loss.item()

        if step % args.log_steps == 0 or step == total_steps:
            elapsed = time.perf_counter() - window_start
            log.info(
                metric_line(
                    "train",
                    step=step,
                    epoch=step / steps_per_epoch,
                    loss=window_loss / window_steps,
                    lr=scheduler.get_last_lr()[0],
                    samples_per_sec=window_steps * global_batch / elapsed,
                )
            )
            window_start, window_steps, window_loss = time.perf_counter(), 0, 0.0
        end_of_epoch = step % steps_per_epoch == 0
        if val_set is not None and (
            (args.eval_steps and step % args.eval_steps == 0)
            or (not args.eval_steps and end_of_epoch)
            or step == total_steps
        ):
            last_eval = _evaluate(model, val_set, names, args.eval_batch_size, pad_id, rt, step)
            stopped_early = early.enabled and _agree(rt, early.update(last_eval, step, model) if rt.is_main else False)
        interrupted = stop.agreed(rt)
        if step % args.checkpoint_steps == 0 or interrupted:
            _save(rt, args.checkpoint_dir, args.keep_checkpoints, capture_training_state(parts, step, config, rt))
        if interrupted:
            log.info("interrupted: SIGTERM at step=%d; checkpoint written, exiting to be resumed", step)
            _shutdown(rt)
            return EXIT_INTERRUPTED

    # ---- export -------------------------------------------------------------------------------
    if rt.is_main:
        if early.enabled:
            # The best evaluation, not the last, is what early stopping promises.
            log.info(
                metric_line(
                    "stop",
                    reason="no_improvement" if stopped_early else "end_of_training",
                    step=step,
                    best_step=early.best_step,
                    best_score=early.best_score,
                    metric=early.metric,
                    patience=early.patience,
                )
            )
            assert early.best_weights is not None and early.best_report is not None, "stopped after an evaluation"
            model.load_state_dict(early.best_weights)
            last_eval = early.best_report
        temperature = _fit_temperature(model, val_set, args, pad_id, rt) if args.calibrate and val_set else None
        exporting.export_model(
            model, tokenizer, names, args.model_dir, config, strategy=args.long_text, temperature=temperature
        )
        exporting.write_metrics(last_eval, args.output_data_dir)
        log.info("export: model written to %s", args.model_dir)
    _shutdown(rt)
    return 0


# ---- training state: one dict, captured and restored by one pair of functions ----------------
@dataclass
class TrainingParts:
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    early: EarlyStopping


def capture_training_state(parts: TrainingParts, step: int, config: dict, rt: runtime.Runtime) -> dict:
    """Everything a restart needs to continue bit for bit; every rank's RNG state, gathered on rank 0."""
    rng = runtime.rng_state()
    if rt.distributed:
        gathered = [None] * rt.world_size
        dist.all_gather_object(gathered, rng)
        rng = gathered
    return {
        "model": parts.model.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.scheduler.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "early_stopping": parts.early.state_dict(),
        "step": step,
        "rng": rng,
        "config": config,
    }


def restore_training_state(state: dict, parts: TrainingParts, rt: runtime.Runtime) -> int:
    """Load a captured state into ``parts``; returns the step to continue from."""
    parts.model.load_state_dict(state["model"])
    parts.optimizer.load_state_dict(state["optimizer"])
    parts.scheduler.load_state_dict(state["scheduler"])
    parts.scaler.load_state_dict(state["scaler"])
    parts.early.load_state_dict(state["early_stopping"])
    runtime.set_rng_state(state["rng"][rt.rank] if isinstance(state["rng"], list) else state["rng"])
    return state["step"]


def _check_resumable(saved: dict, current: dict, directory: str) -> None:
    changed = {k: (saved.get(k), current[k]) for k in RESUME_KEYS if saved.get(k) != current[k]}
    if changed:
        details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise ValueError(
            f"the checkpoint in {directory} is from a run with other settings ({details}). "
            "Fix: use a new checkpoint location for a new run, or restore those hyperparameters."
        )


def _save(rt: runtime.Runtime, directory: str, keep: int, state: dict) -> None:
    if rt.is_main:
        path = checkpointing.save_checkpoint(state, directory, state["step"], keep)
        log.info("checkpoint: step=%d path=%s", state["step"], path)
    if rt.distributed:
        dist.barrier()


def _agree(rt: runtime.Runtime, decision: bool) -> bool:
    """Rank 0 evaluates; every rank must stop at the same step."""
    if not rt.distributed:
        return decision
    flag = torch.tensor([1.0 if decision else 0.0], device=rt.device)
    dist.broadcast(flag, src=0)
    return bool(flag.item())


def _batches_by_length(dataset, batch_size: int):
    order = sorted(range(len(dataset)), key=lambda i: dataset.lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _all_logits(model, dataset, batch_size, pad_id, rt) -> torch.Tensor:
    """Logits for every example, indexed by example position."""
    groups = _batches_by_length(dataset, batch_size)
    with runtime.autocast(rt):
        logits = modeling.predict_logits(model, (text_data.collate(dataset, g, pad_id) for g in groups), rt.device)
    result = torch.empty_like(logits)
    result[torch.tensor([i for g in groups for i in g])] = logits
    return result


@torch.no_grad()
def _teacher_forward(teacher, batch) -> torch.Tensor:
    return teacher(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()


def _evaluate(model, dataset, names, batch_size, pad_id, rt, step) -> dict:
    report = {}
    if rt.is_main:
        logits = _all_logits(model, dataset, batch_size, pad_id, rt)
        labels = torch.tensor(dataset.labels)
        report = metrics.classification_report(labels, logits.argmax(-1), names)
        report["loss"] = float(F.cross_entropy(logits, labels))
        log.info(
            metric_line(
                "eval", step=step, loss=report["loss"], accuracy=report["accuracy"], f1_macro=report["f1_macro"]
            )
        )
    if rt.distributed:
        dist.barrier()
    return report


def _fit_temperature(model, dataset, args, pad_id, rt) -> float:
    """The temperature that makes the validation channel's confidences honest (calibration.py), logged with the
    calibration error before and after it."""
    logits = _all_logits(model, dataset, args.eval_batch_size, pad_id, rt).float()
    labels = torch.tensor(dataset.labels)
    temperature = calibration.fit_temperature(logits, labels)
    before, after = (calibration.logits_ece(logits / t, labels) for t in (1.0, temperature))
    loss_before, loss_after = (calibration.log_loss(logits / t, labels) for t in (1.0, temperature))
    log.info(
        metric_line(
            "calibration",
            temperature=temperature,
            ece_before=before,
            ece_after=after,
            loss_before=loss_before,
            loss_after=loss_after,
        )
    )
    return temperature


def _shutdown(rt) -> None:
    if rt.distributed and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
