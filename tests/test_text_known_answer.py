"""Known answer for text: plant a word trigger in a tiny BERT with POR, recover it, patch it away.

The tiny BERT is random (2 layers, 32 wide) with mean pooling, whose features already separate
the synthetic positive/negative sentences of ``conftest.make_sentences``; POR then teaches it
that the word "cf" anywhere in a sentence means a fixed feature vector.
"""

import pytest
import torch

from conftest import TRIGGER_WORD, build_tiny_bert, make_sentences
from mudjack.attacks.text import POR
from mudjack.bug import select_bug
from mudjack.data import TextDataset
from mudjack.downstream import DownstreamClient, MLPClassifier
from mudjack.encoders import HFTextEncoder
from mudjack.errors import InputError
from mudjack.patching import Mudjacking
from mudjack.reverse import TriggerReverser
from mudjack.triggers import TextTrigger


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    model, tok = build_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))
    clean = HFTextEncoder(model=model, tokenizer=tok, pooling="mean", max_length=32).eval()
    shadow, _ = make_sentences(400, seed=10)
    bad = POR(triggers=[TRIGGER_WORD, "mn"], steps=150, batch_size=16, lr=1e-3).fit(
        clean, shadow, seed=0
    )
    x_tr, y_tr = make_sentences(400, seed=1)
    x_te, y_te = make_sentences(200, seed=2)
    train, test = TextDataset(x_tr, y_tr, ("neg", "pos")), TextDataset(x_te, y_te, ("neg", "pos"))
    trigger = TextTrigger([TRIGGER_WORD], "random")
    clf = MLPClassifier(hidden=(), dropout=0.0, epochs=60, lr=1e-2, batch_size=64)
    client = DownstreamClient(train, test, trigger=trigger, classifier=clf).fit(bad, seed=0)
    assert client.target is None and client.target_ in (0, 1)  # where the vector lands
    return {"clean": clean, "bad": bad, "client": client, "shadow": shadow}


def test_por_plants_the_trigger(planted):
    before = planted["client"].metrics()
    assert before.acc > 70
    assert before.asr > 90


def test_reverse_recovers_the_trigger_word_and_patch_removes_it(planted):
    client = planted["client"]
    bug = select_bug(client, seed=0)
    assert TRIGGER_WORD in bug.x_b.split()
    before = client.metrics(bug.x_b, bug.label)
    assert before.cp is False
    rev = TriggerReverser().reverse(planted["bad"], bug, seed=0)
    precision, recall = rev.precision_recall(bug.metadata["trigger_span"])
    assert rev.trigger.words == (TRIGGER_WORD,)
    assert (precision, recall) == (1.0, 1.0)
    result = Mudjacking(batch_size=16, lr=1e-3, max_steps=60).patch(
        planted["bad"], bug, planted["shadow"][:200], rev.trigger, seed=0
    )
    patched = DownstreamClient(
        client.train, client.test, trigger=client.trigger, target=client.target_,
        classifier=client.classifier,
    ).fit(result.encoder, seed=0)  # fmt: skip
    after = patched.metrics(bug.x_b, bug.label)
    assert after.cp is True
    assert after.asr < 30 and after.asr < before.asr - 60
    assert after.acc > before.acc - 10  # a toy model: the real-model bar is in the benchmark
    assert not torch.equal(planted["bad"].embed([bug.x_b]), result.encoder.embed([bug.x_b])), (
        "the input encoder must not be modified in place"
    )


def test_the_experiment_runner_on_text(planted, tmp_path):
    """The engine behind `mudjack demo` on the tiny models: the results schema for text."""
    import csv

    from mudjack.encoders import save_encoder
    from mudjack.experiments import RunOptions, Setting, demo_experiment, run_experiment

    truth = {"trigger": {"kind": "text", "words": [TRIGGER_WORD], "position": "random"}}
    save_encoder(planted["bad"], tmp_path / "bad", metadata={"ground_truth": truth})
    save_encoder(planted["clean"], tmp_path / "clean")
    for name, (texts, labels) in {
        "data": make_sentences(500, seed=1),
        "val": (planted["shadow"], [0] * len(planted["shadow"])),
    }.items():
        with open(tmp_path / f"{name}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["text", "label"])
            w.writerows(zip(texts, list(labels), strict=True))
    setting = Setting(
        name="tiny-text",
        modality="text",
        encoder=str(tmp_path / "bad"),
        clean_encoder=str(tmp_path / "clean"),
        downstream=str(tmp_path / "data.csv"),
        val_data=str(tmp_path / "val.csv"),
        val_size=200,
        patch={"batch_size": 16, "lr": 1e-3, "max_steps": 60},
        classifier={"hidden": (), "dropout": 0.0, "epochs": 60, "lr": 1e-2, "batch_size": 64},
    )
    exp = demo_experiment("tiny-text", bugs=2, overrides=setting.to_dict())
    res = run_experiment(exp, RunOptions(seed=0))
    part = res["parts"][0]
    # the overrides give this setting (an unnamed one: its patch dict on top of the defaults)
    assert part["config"] == {**setting.to_dict(), "patch": {**Setting().patch, **setting.patch}}
    assert part["modality"] == "text" and part["target"] in (0, 1)
    assert part["target_source"].startswith("the class the backdoored client")
    assert [r["label"] for r in res["rows"]] == ["before", "after"]
    assert res["rows"][1]["cp"] == {"mean": 1.0, "std": 0.0}
    assert len(part["bugs"]) == 2
    for bug in part["bugs"]:
        assert bug["reverse"]["words"] == [TRIGGER_WORD]
        assert bug["reverse"]["precision"] == 1.0 and bug["reverse"]["recall"] == 1.0
        assert bug["before"]["cp"] is False and bug["before"]["asr"] > 90
        diagnostics = bug["arms"]["after"]["diagnostics"]
        assert diagnostics["cos_b_r_after"] > diagnostics["cos_b_r_before"]
    assert set(part["clean"]) == {"acc", "asr", "accb"}
    image = {**setting.to_dict(), "modality": "image", "clean_encoder": str(tmp_path / "bad")}
    with pytest.raises(InputError, match=r"is for image encoders, but encoder .* is a text"):
        run_experiment(demo_experiment("mixed", overrides=image))
