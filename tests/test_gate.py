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
     {"min_occlusion_gain": float("inf")}],
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
