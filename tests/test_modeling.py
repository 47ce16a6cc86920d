"""Students made from a teacher's layers, and the tokenizer check distillation relies on."""

from __future__ import annotations

import modeling
import pytest
import torch
from conftest import minilm_path
from transformers import AutoTokenizer


@pytest.fixture(scope="module")
def teacher(tiny_model_dir):
    return modeling.load_teacher(str(tiny_model_dir))


def test_student_keeps_the_chosen_teacher_layers(teacher):
    student = modeling.student_from_teacher_layers(teacher, [0, 2])
    assert student.config.num_hidden_layers == 2
    assert len(student.bert.encoder.layer) == 2
    for student_index, teacher_index in ((0, 0), (1, 2)):
        for (name, s), (_, t) in zip(
            student.bert.encoder.layer[student_index].named_parameters(),
            teacher.bert.encoder.layer[teacher_index].named_parameters(),
            strict=True,
        ):
            assert torch.equal(s, t), name
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)
    assert len(teacher.bert.encoder.layer) == 4, "the teacher itself is untouched"


def test_student_is_smaller_and_runs(teacher):
    student = modeling.student_from_teacher_layers(teacher, [1, 3])
    assert modeling.count_parameters(student) < modeling.count_parameters(teacher)
    output = student(input_ids=torch.tensor([[101, 2204, 102]]), attention_mask=torch.ones(1, 3, dtype=torch.long))
    assert output.logits.shape == (1, 2)


def test_layer_out_of_range_is_explained(teacher):
    with pytest.raises(modeling.ModelError, match=r"the teacher has only 4 layers \(0..3\)"):
        modeling.student_from_teacher_layers(teacher, [0, 4])


def test_same_vocabulary_passes(tiny_model_dir):
    modeling.check_tokenizers_match(
        AutoTokenizer.from_pretrained(tiny_model_dir), AutoTokenizer.from_pretrained(minilm_path())
    )


def test_different_vocabulary_fails_clearly(tmp_path, tiny_model_dir):
    vocab = (minilm_path() / "vocab.txt").read_text(encoding="utf-8").splitlines()
    vocab[2000], vocab[2001] = vocab[2001], vocab[2000]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    from transformers import BertTokenizerFast

    other = BertTokenizerFast(vocab_file=str(tmp_path / "vocab.txt"), do_lower_case=True)
    with pytest.raises(modeling.ModelError, match="teacher and student tokenizers differ"):
        modeling.check_tokenizers_match(AutoTokenizer.from_pretrained(tiny_model_dir), other)


def test_dropout_override_reaches_every_dropout(tiny_model_dir):
    model = modeling.load_teacher(str(tiny_model_dir))
    modeling.set_dropout(model, 0.0)
    inputs = {"input_ids": torch.tensor([[101, 2204, 3185, 102]]), "attention_mask": torch.ones(1, 4, dtype=torch.long)}
    with torch.no_grad():
        expected = model.eval()(**inputs).logits
        model.train()
        # Attention dropout included: training mode must now be deterministic.
        assert all(torch.equal(model(**inputs).logits, expected) for _ in range(5))


def test_teacher_label_order_must_match(tiny_model_dir):
    teacher = modeling.load_teacher(str(tiny_model_dir))
    teacher.config.id2label = {0: "negative", 1: "positive"}
    modeling.check_teacher_labels(teacher, ["negative", "positive"])
    with pytest.raises(
        modeling.ModelError, match=r"the teacher predicts \['negative', 'positive'\].*Fix: pass --labels"
    ):
        modeling.check_teacher_labels(teacher, ["positive", "negative"])
    with pytest.raises(modeling.ModelError, match="the teacher predicts"):
        modeling.check_teacher_labels(teacher, ["a", "b", "c"])
