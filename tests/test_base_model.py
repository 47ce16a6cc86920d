"""`textclf base-model upload`: a model that loads lands under base-models/<name>/ with the stage key; one that
does not is refused before anything is uploaded."""

from __future__ import annotations

import shutil

from conftest import minilm_path

from cli.main import main


def test_a_model_that_loads_is_uploaded_where_the_model_channel_reads_it(deployed_stage, tmp_path, capsys):
    session, key = deployed_stage
    s3 = session.client("s3")
    model = shutil.copytree(minilm_path(), tmp_path / "distilbert-base-uncased")
    assert main(["base-model", "upload", str(model), "--stage", "dev"]) == 0
    out = capsys.readouterr().out
    assert "ForSequenceClassification" in out and "the pipelines' BaseModelUri default reads it" in out
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="dev-datasets")["Contents"]}
    assert (
        "base-models/distilbert-base-uncased/config.json" in keys
        and "base-models/distilbert-base-uncased/vocab.txt" in keys
    )
    assert (
        s3.head_object(Bucket="dev-datasets", Key="base-models/distilbert-base-uncased/config.json")["SSEKMSKeyId"]
        == key
    )


def test_another_name_says_how_to_use_it(deployed_stage, capsys):
    assert main(["base-model", "upload", str(minilm_path()), "--stage", "dev", "--name", "minilm"]) == 0
    assert "--param BaseModelUri=s3://dev-datasets/base-models/minilm/" in capsys.readouterr().out


def test_a_model_that_does_not_load_is_refused_and_nothing_is_uploaded(deployed_stage, tmp_path, capsys):
    s3 = deployed_stage[0].client("s3")
    broken = shutil.copytree(minilm_path(), tmp_path / "broken")
    (broken / "config.json").write_text("{not json")
    assert main(["base-model", "upload", str(broken), "--stage", "dev"]) == 2
    err = capsys.readouterr().err
    assert "does not load for sequence classification" in err and "Fix:" in err
    assert s3.list_objects_v2(Bucket="dev-datasets").get("KeyCount", 0) == 0
