"""The acceptance gate: probe, intake and release checks, verdicts, and the malicious reports
of the gate benchmark, on the tiny SimCLR digits encoder with a planted backdoor."""

from __future__ import annotations

import json

import pytest
import torch

from mudjack import BugInstance, Mudjacking, TriggerReverser
from mudjack.errors import InputError, UnknownNameError
from mudjack.gate import Check, Intake, KnnProbe, ProbeData, Release, Verdict
from mudjack.gate.malicious import KINDS, craft


def test_a_check_passes_on_its_side_of_the_threshold():
    assert Check("a", 0.5, 0.3, True, "").passed and not Check("a", 0.2, 0.3, True, "").passed
    assert Check("b", 0.1, 0.15, False, "").passed and not Check("b", 0.2, 0.15, False, "").passed
    assert not Check("c", float("nan"), 0.0, True, "").passed  # unmeasured fails
    v = Verdict("intake", [Check("a", 0.5, 0.3, True, "x"), Check("b", 0.2, 0.15, False, "y")])
    assert not v.accepted and v.failed == ["b"]
    record = json.loads(json.dumps(v.to_dict()))
    assert record["verdict"] == "refused" and record["checks"][1]["passed"] is False
    assert "REFUSED" in v.summary() and "FAIL  b: 0.2 (needs <= 0.15)" in v.summary()


@pytest.mark.parametrize(
    "kwargs",
    [{"min_reference_vote": 1.5}, {"max_trigger_fraction": -0.1}, {"fill": float("nan")},
     {"min_transfer": float("inf")}],
)  # fmt: skip
def test_intake_thresholds_out_of_range_are_bad_input(kwargs):
    with pytest.raises(InputError, match="finite number in"):
        Intake(**kwargs)


@pytest.mark.parametrize("kwargs", [{"max_probe_drop": -1.0}, {"min_bug_vote": float("nan")}])
def test_release_thresholds_out_of_range_are_bad_input(kwargs):
    with pytest.raises(InputError, match="finite number in"):
        Release(**kwargs)


def test_the_probe_votes_and_scores(clean_digits):
    train, test, clean = clean_digits
    probe = KnnProbe(k=5).fit(clean, train.images, train.labels)
    votes = probe.votes(test.images[:100])
    assert votes.shape == (100, 10) and torch.allclose(votes.sum(1), torch.ones(100))
    assert probe.accuracy(test.images, test.labels) > 50  # 10 classes
    with pytest.raises(InputError, match="at least k=5"):
        KnnProbe(k=5).fit(clean, train.images[:3], train.labels[:3])


@pytest.fixture(scope="module")
def genuine(planted, clean_digits):
    """A backdoor bug of the planted encoder (target 0): x_b a test digit of class 3 with
    the trigger, x_r another test digit of class 3."""
    _, encoder, trigger, _ = planted
    test = clean_digits[1]
    i, j = torch.nonzero(test.labels == 3).flatten()[:2].tolist()
    return encoder, trigger, BugInstance(trigger.apply(test.images[i]), test.images[j], 3)


@pytest.fixture(scope="module")
def probe(planted):
    train, encoder, _, _ = planted
    return KnnProbe().fit(encoder, train.images, train.labels)


@pytest.fixture(scope="module")
def pool(clean_digits):
    """The clean inputs an attacker draws from."""
    return clean_digits[1].images, clean_digits[1].labels


def test_intake_accepts_a_genuine_report_and_refuses_a_label_flip(genuine, probe, pool):
    encoder, _, bug = genuine
    rev = TriggerReverser(window=2).reverse(encoder, bug)
    verdict = Intake().check(encoder, bug, probe, rev)
    values = {c.name: c.value for c in verdict.checks}
    assert values["reference_class"] >= 0.5 and values["trigger_size"] < 0.15
    assert values["trigger_transfer"] > 0.1  # the planted trigger carries inputs to x_b
    flipped = craft("label-flip", encoder, bug, *pool, 0)
    assert flipped.label == bug.label and int(flipped.metadata["x_r_class"]) != bug.label
    v2 = Intake().check(encoder, flipped, probe, rev)
    assert "reference_class" in v2.failed


def test_intake_refuses_a_half_image_trigger(genuine, probe, pool):
    encoder, _, bug = genuine
    big = craft("oversized", encoder, bug, *pool, 1)
    changed = (big.x_b != big.x_r).float().mean()
    assert 0 < changed <= 0.5
    fake = TriggerReverser(window=2).reverse(encoder, big)
    half = fake.trigger.with_random_location(False)
    half.mask.zero_()
    half.mask[..., :4, :] = 1  # a recovered trigger covering the top half
    rev = type(fake)(half, fake.scores, fake.clustered, fake.method, fake.seconds)
    assert "trigger_size" in Intake().check(encoder, big, probe, rev).failed


def test_intake_refuses_inputs_of_another_kind(genuine, probe):
    encoder, _, bug = genuine
    bad = BugInstance(torch.rand(1, 16, 16), torch.rand(1, 16, 16), bug.label)
    verdict = Intake().check(encoder, bad, probe)
    assert verdict.failed == ["valid_inputs"] and "Expected" in verdict.checks[0].what


def test_every_malicious_kind_keeps_the_inputs_valid(genuine, pool):
    encoder, _, bug = genuine
    for kind in KINDS:
        m = craft(kind, encoder, bug, *pool, 0)
        m.check(encoder)
        assert m.metadata["kind"] == kind and m.label == bug.label
    adv = craft("adversarial-reference", encoder, bug, *pool, 0)
    assert (adv.x_r - bug.x_r).abs().max() <= 8 / 255 + 1e-6
    with pytest.raises(UnknownNameError, match="Unknown malicious report kind"):
        craft("sneaky", encoder, bug, *pool, 0)


def test_the_adversarial_reference_keeps_its_budget(genuine, pool):
    encoder, _, bug = genuine
    adv = craft("adversarial-reference", encoder, bug, *pool, 0, epsilon=0.1, steps=5)
    assert 8 / 255 < (adv.x_r - bug.x_r).abs().max() <= 0.1 + 1e-6
    for bad in ({"epsilon": 0.0}, {"epsilon": -0.1}, {"epsilon": float("nan")}, {"steps": 0}):
        with pytest.raises(InputError, match="Expected"):
            craft("adversarial-reference", encoder, bug, *pool, 0, **bad)


def test_release_passes_a_patch_that_removes_the_backdoor(genuine, planted, clean_digits):
    encoder, trigger, bug = genuine
    train, test = planted[0], clean_digits[1]
    patched = (
        Mudjacking(epochs=4, batch_size=64, lr=1e-3)
        .patch(encoder, bug, train.images[:512], trigger, seed=0)
        .encoder
    )
    data = ProbeData(train.images, train.labels, test.images, test.labels)
    before = Release().check(encoder, encoder, bug, trigger, data)
    after = Release().check(encoder, patched, bug, trigger, data)
    inv = {v.stage + c.name: c.value for v in (before, after) for c in v.checks}
    assert before.checks[0].value == pytest.approx(1.0, abs=1e-5)  # no drift from itself
    assert "trigger_invariance" in before.failed  # the backdoored encoder moves with the trigger
    assert inv["releasetrigger_invariance"] > before.checks[3].value
    assert json.loads(json.dumps(after.to_dict()))["stage"] == "release"


# --- the command line ------------------------------------------------------------------------
def run(capsys, *argv):
    from mudjack.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def patched(patch_args, tmp_path, capsys):
    code, _, err = run(capsys, *patch_args, "--out", tmp_path / "p")
    assert code == 0, err
    return tmp_path


def test_check_intake_and_release_write_verdicts(patched, capsys):
    w = patched
    common = ["--encoder", w / "enc", "--bug", w / "bug", "--probe-data", w / "digits.npz",
              "--probe-size", 300, "--quiet"]  # fmt: skip
    code, out, err = run(capsys, "check", "intake", *common, "--json", w / "intake.json")
    assert code in (0, 1), err
    record = json.loads((w / "intake.json").read_text())
    names = [c["name"] for c in record["checks"]]
    assert names == ["valid_inputs", "reference_class", "trigger_size", "trigger_transfer"]
    assert "occlusion_gain" in record["notes"]
    assert record["verdict"] == ("accepted" if code == 0 else "refused")
    assert out.startswith("intake: ")

    code, out, err = run(capsys, "check", "release", *common, "--patched", w / "p",
                         "--json", w / "p" / "gate.json", "--max-probe-drop", 100)  # fmt: skip
    assert code in (0, 1), err
    record = json.loads((w / "p" / "gate.json").read_text())
    assert record["stage"] == "release" and len(record["checks"]) == 5
    drop = next(c for c in record["checks"] if c["name"] == "probe_drop")
    assert drop["threshold"] == 100 and drop["passed"]
    code, out, _ = run(capsys, "history", w / "p")
    assert f"gate: {record['verdict']}" in out


def test_check_refuses_missing_or_bad_arguments(patched, capsys):
    w = patched
    code, _, err = run(capsys, "check", "release", "--encoder", w / "enc", "--bug", w / "bug")
    assert code == 2 and "Expected --patched" in err
    code, _, err = run(capsys, "check", "intake", "--encoder", w / "enc", "--bug", w / "bug",
                       "--probe-data", w / "digits.npz", "--min-reference-vote", "nan")  # fmt: skip
    assert code == 2 and "min_reference_vote" in err and "Traceback" not in err
    code, _, err = run(capsys, "check", "intake", "--encoder", w / "enc", "--bug", w / "bug",
                       "--probe-data", w / "digits.npz", "--probe-size", 5000)  # fmt: skip
    assert code == 2 and "--probe-size" in err


def test_check_persistence_measures_both_encoders(patched, capsys):
    w = patched
    code, out, err = run(
        capsys, "check", "persistence", "--encoder", w / "enc", "--patched", w / "p",
        "--data", w / "digits.npz", "--trigger", w / "t.safetensors", "--target", 0,
        "--ft-data", w / "digits.npz", "--ft-size", 256, "--ft-steps", 3, "--ft-batch-size", 64,
        "--clf-epochs", 5, "--json", w / "persist.json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    record = json.loads((w / "persist.json").read_text())
    assert record["fine_tune"] == {"steps": 3, "lr": 1e-4, "batch_size": 64}
    for name in ("backdoored", "patched"):
        assert {"asr", "acc"} <= set(record[name]["before"]) <= set(record[name]["after_fine_tune"])
    assert "after clean fine-tune (3 steps)" in out


def test_the_clean_fine_tune_leaves_its_input_alone(tiny_encoder, random_images):
    from mudjack.gate.persistence import CleanFineTune
    from mudjack.utils import sha256_tensors

    before = sha256_tensors(*tiny_encoder.state_dict().values())
    tuned = CleanFineTune(steps=2, batch_size=16).apply(tiny_encoder, random_images)
    assert sha256_tensors(*tiny_encoder.state_dict().values()) == before
    assert sha256_tensors(*tuned.state_dict().values()) != before and not tuned.training
    with pytest.raises(InputError, match="steps"):
        CleanFineTune(steps=0)


def test_the_gate_takes_text_reports(tiny_bert):
    from conftest import TRIGGER_WORD, make_sentences
    from mudjack.triggers import TextTrigger

    texts, labels = make_sentences(60, seed=0)
    probe = KnnProbe(k=3).fit(tiny_bert, texts[:40], labels[:40])
    x_r = texts[40]
    words = texts[41].split()
    x_b = " ".join([*words[:2], TRIGGER_WORD, *words[2:]])
    bug = BugInstance(x_b, x_r, int(labels[40]))
    verdict = Intake().check(tiny_bert, bug, probe)
    values = {c.name: c.value for c in verdict.checks}
    assert 0 < values["trigger_size"] < 1 and verdict.checks[0].passed
    data = ProbeData(texts[:40], labels[:40], texts[40:], labels[40:])
    release = Release(k=3).check(tiny_bert, tiny_bert, bug, TextTrigger([TRIGGER_WORD]), data)
    assert release.checks[0].value == pytest.approx(1.0, abs=1e-5)
    assert release.checks[1].value == 0.0  # the same encoder: no probe drop
