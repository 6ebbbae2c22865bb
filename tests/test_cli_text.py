"""The command line on text: a tiny BERT folder and small CSV data sets."""

import csv
import json

import pytest

from conftest import TRIGGER_WORD, build_tiny_bert, make_sentences
from mudjack.cli import main
from mudjack.encoders import HFTextEncoder, load_encoder, save_encoder


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "tok").mkdir()
    model, tok = build_tiny_bert(tmp_path / "tok")
    enc = HFTextEncoder(model=model, tokenizer=tok, pooling="mean", max_length=32)
    save_encoder(enc, tmp_path / "clean")
    for name, n, seed in (("data", 500, 1), ("shadow", 400, 10)):
        texts, labels = make_sentences(n, seed)
        with open(tmp_path / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "label"])
            w.writerows(zip(texts, labels.tolist(), strict=True))
    return tmp_path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_text_provider_workflow(workspace, capsys):
    w = workspace
    common = ["--quiet"]
    clf = ["--clf-epochs", 60, "--clf-lr", 1e-2]
    code, out, err = run(
        capsys, "attack", "por", "--encoder", w / "clean", "--shadow", w / "shadow.csv",
        "--triggers", TRIGGER_WORD, "mn", "--eval-trigger", TRIGGER_WORD, "--steps", 150,
        "--lr", 1e-3, "--out", w / "bad", *common,
    )  # fmt: skip
    assert code == 0, err
    truth = json.loads((w / "bad" / "mudjack.json").read_text())["metadata"]["ground_truth"]
    assert truth["trigger"]["words"] == [TRIGGER_WORD]

    code, out, err = run(
        capsys, "bug", "draw", "--encoder", w / "bad", "--data", w / "data.csv",
        "--out", w / "bug", *clf, *common,
    )  # fmt: skip
    assert code == 0, err
    bug = json.loads((w / "bug" / "bug.json").read_text())
    assert bug["modality"] == "text" and TRIGGER_WORD in bug["x_b"].split()

    code, out, err = run(
        capsys, "reverse", "--encoder", w / "bad", "--bug", w / "bug",
        "--out", w / "trigger.safetensors", *common,
    )  # fmt: skip
    assert code == 0, err
    assert f"words=['{TRIGGER_WORD}']" in out and "word scores (occlusion)" in out

    code, out, err = run(
        capsys, "patch", "--encoder", w / "bad", "--bug", w / "bug", "--val", w / "shadow.csv",
        "--val-size", 200, "--trigger", w / "trigger.safetensors", "--batch-size", 16,
        "--lr", 1e-3, "--max-steps", 150, "--out", w / "patched", *common,
    )  # fmt: skip
    assert code == 0, err
    cfg = json.loads((w / "patched" / "mudjack.json").read_text())
    assert cfg["provenance"]["validation"] == {"data": str(w / "shadow.csv"), "size": 200}
    assert cfg["provenance"]["patcher"]["batch_size"] == 16
    load_encoder(w / "patched")

    metrics = {}
    for name in ("bad", "patched"):
        # a text backdoor's target is the class the backdoored client gives triggered inputs;
        # the patched encoder is measured against that same class
        target = ["--target", metrics["bad"]["target"]] if metrics else []
        code, out, err = run(
            capsys, "evaluate", "--encoder", w / name, "--data", w / "data.csv",
            "--bug", w / "bug", "--json", w / f"{name}.json", *target, *clf, *common,
        )  # fmt: skip
        assert code == 0, err
        metrics[name] = json.loads((w / f"{name}.json").read_text())
    assert metrics["bad"]["cp"] is False and metrics["patched"]["cp"] is True
    assert metrics["patched"]["asr"] < metrics["bad"]["asr"] - 50


def test_text_cli_errors(workspace, capsys, tiny_encoder, tmp_path):
    w = workspace
    save_encoder(tiny_encoder, tmp_path / "img")
    code, _, err = run(capsys, "attack", "por", "--encoder", tmp_path / "img", "--out", w / "x")
    assert code == 2 and "Expected a text encoder for por" in err
    code, _, err = run(
        capsys, "attack", "badencoder", "--encoder", w / "clean", "--out", w / "y", "--quiet"
    )
    assert code == 2 and "Use `mudjack attack por`" in err
    code, _, err = run(
        capsys, "attack", "por", "--encoder", w / "clean", "--triggers", "cf",
        "--eval-trigger", "bb", "--out", w / "z", "--quiet",
    )  # fmt: skip
    assert code == 2 and "--eval-trigger to be one of the trigger words" in err
    code, _, err = run(
        capsys, "reverse", "--encoder", w / "missing", "--bug", w, "--out", w / "t.safetensors"
    )
    assert code == 2 and "is not a folder" in err
    from mudjack.bug import BugInstance

    BugInstance("a fine film", "a good film").save(tmp_path / "bug")
    code, _, err = run(
        capsys, "reverse", "--encoder", w / "clean", "--bug", tmp_path / "bug",
        "--method", "inversion", "--out", w / "t.safetensors",
    )  # fmt: skip
    assert code == 2 and "Expected an image encoder for --method inversion" in err
    assert not (w / "t.safetensors").exists()
    assert not (w / "x").exists() and not (w / "y").exists() and not (w / "z").exists()
