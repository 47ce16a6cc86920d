"""Models: loading, tokenizer compatibility, and students made from a teacher's layers."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel


class ModelError(ValueError):
    """A model or tokenizer cannot be used as asked."""


def load_tokenizer(name_or_path: str):
    return AutoTokenizer.from_pretrained(name_or_path)


def load_classifier(name_or_path: str, labels: Sequence[str]) -> PreTrainedModel:
    """A sequence classifier with exactly these labels (a new head if the checkpoint has none)."""
    return AutoModelForSequenceClassification.from_pretrained(
        name_or_path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )


def load_teacher(name_or_path: str) -> PreTrainedModel:
    """A fine-tuned classifier, used as is (its head and labels define the task)."""
    return AutoModelForSequenceClassification.from_pretrained(name_or_path)


def teacher_label_names(teacher: PreTrainedModel) -> list[str] | None:
    """The teacher's own label names, unless they are the generic LABEL_i placeholders."""
    id2label = teacher.config.id2label or {}
    names = [id2label[i] for i in range(len(id2label))]
    return None if all(name == f"LABEL_{i}" for i, name in enumerate(names)) else names


def check_teacher_labels(teacher: PreTrainedModel, names: Sequence[str]) -> None:
    """The student learns the teacher's logits position by position: the label order must agree."""
    teacher_names = teacher_label_names(teacher)
    if teacher.config.num_labels != len(names) or (teacher_names and teacher_names != list(names)):
        shown = teacher_names or f"{teacher.config.num_labels} unnamed labels"
        raise ModelError(
            f"the teacher predicts {shown}, but the data and --labels give {list(names)}. "
            "Fix: pass --labels in the teacher's order, or distill from a teacher trained on these labels."
        )


def set_dropout(model: PreTrainedModel, probability: float) -> None:
    """Every dropout: nn.Dropout modules, and the probabilities SDPA attention reads at run time."""
    for key, value in model.config.to_dict().items():
        if "dropout" in key and isinstance(value, float):
            setattr(model.config, key, probability)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = probability
        if isinstance(getattr(module, "dropout_prob", None), float):
            setattr(module, "dropout_prob", probability)  # noqa: B010 - not every module declares it


def check_tokenizers_match(teacher_tokenizer, student_tokenizer) -> None:
    """Distillation compares logits on the same token ids: the vocabularies must be identical."""
    teacher_vocab, student_vocab = teacher_tokenizer.get_vocab(), student_tokenizer.get_vocab()
    if teacher_vocab != student_vocab:
        differing = sorted(set(teacher_vocab.items()) ^ set(student_vocab.items()))[:3]
        raise ModelError(
            f"teacher and student tokenizers differ (vocab sizes {len(teacher_vocab)} vs {len(student_vocab)}; "
            f"e.g. {differing}). Fix: pick a student with the teacher's vocabulary, or use --student_layers "
            "to build the student from the teacher."
        )
    for attribute in ("do_lower_case", "cls_token", "sep_token", "pad_token"):
        a, b = getattr(teacher_tokenizer, attribute, None), getattr(student_tokenizer, attribute, None)
        if a != b:
            raise ModelError(f"teacher and student tokenizers differ in {attribute}: {a!r} vs {b!r}.")


def _encoder_layers(model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """The transformer block list of a BERT-family model (BERT: encoder.layer, DistilBERT: transformer.layer)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and name.endswith("layer") and len(module) > 0:
            parent_name, _, attribute = name.rpartition(".")
            return model.get_submodule(parent_name), attribute, module
    raise ModelError(
        f"{type(model).__name__} has no transformer layer list; --student_layers needs a BERT-family model."
    )


def student_from_teacher_layers(teacher: PreTrainedModel, layers: Sequence[int]) -> PreTrainedModel:
    """Copy the teacher, keeping embeddings, head and only the given transformer layers."""
    student = copy.deepcopy(teacher)
    parent, attribute, blocks = _encoder_layers(student)
    if max(layers) >= len(blocks):
        raise ModelError(
            f"--student_layers {','.join(map(str, layers))}: the teacher has only {len(blocks)} layers "
            f"(0..{len(blocks) - 1})."
        )
    setattr(parent, attribute, nn.ModuleList([blocks[i] for i in layers]))
    for key in ("num_hidden_layers", "n_layers"):
        if hasattr(student.config, key):
            setattr(student.config, key, len(layers))
    return student


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.inference_mode()
def predict_logits(model: nn.Module, batches, device: torch.device) -> torch.Tensor:
    """Logits for an iterable of collated batches, in the order the batches give."""
    model.eval()
    outputs = []
    for batch in batches:
        outputs.append(
            model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
            .logits.float()
            .cpu()
        )
    return torch.cat(outputs) if outputs else torch.empty(0)
