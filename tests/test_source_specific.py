"""The source-specific BadEncoder (Appendix A): the backdoor fires on the source class only."""

from __future__ import annotations

import pytest
import torch

from mudjack import DownstreamClient, MLPClassifier, select_bug
from mudjack.attacks import SourceSpecificBadEncoder, create_attack, select_reference_inputs
from mudjack.downstream.client import Metrics
from mudjack.errors import InputError
from mudjack.triggers import PatchTrigger

SOURCE, TARGET = 1, 0


@pytest.fixture(scope="module")
def source_attack(clean_digits):
    train, test, clean = clean_digits
    trigger = PatchTrigger.square((1, 8, 8), size=2)
    refs = select_reference_inputs(train, TARGET, 3, seed=0)
    attack = SourceSpecificBadEncoder(source=SOURCE, alpha1=0.8, epochs=60, batch_size=128)
    bad = attack.fit(clean, train.images, refs, trigger, labels=train.labels, seed=0)
    return train, test, trigger, refs, bad


@pytest.mark.slow
def test_backdoor_fires_on_the_source_class_and_not_on_another(source_attack):
    train, test, trigger, _refs, bad = source_attack

    def moved(cls: int) -> float:
        """Mean cos(h'(x ⊕ t), h'(x)) over the test inputs of ``cls``: 1 = the trigger is
        ignored."""
        x = test.images[test.labels == cls]
        with torch.no_grad():
            return float((bad.embed(trigger.apply(x)) * bad.embed(x)).sum(1).mean())

    others = [moved(c) for c in range(2, 10)]
    assert moved(SOURCE) < min(others) - 0.2  # the trigger moves the source class alone
    client = DownstreamClient(
        train,
        test,
        trigger=trigger,
        target=TARGET,
        source=SOURCE,
        classifier=MLPClassifier(hidden=(64,), epochs=50, lr=1e-3, batch_size=128),
    ).fit(bad, seed=0)
    m = client.metrics()
    assert m.asr_source > 80 and m.asr_other < 30 and m.asr_source > m.asr_other + 50
    assert set(m.to_dict()) == {"cp", "acc", "asr", "accb", "asr_source", "asr_other"}
    bug = select_bug(client, seed=0)
    assert bug.label == SOURCE  # a source-specific bug comes from the source class


def test_source_specific_attack_refuses_bad_input(digits, tiny_encoder):
    train = digits.subset(slice(0, 200))
    trigger = PatchTrigger.square((1, 8, 8), size=2)
    refs = train.images[:3]
    attack = create_attack("badencoder-source", source=SOURCE, epochs=1)
    with pytest.raises(InputError, match="Expected shadow labels for the source-specific"):
        attack.fit(tiny_encoder, train.images, refs, trigger)
    with pytest.raises(InputError, match="none of the source class"):
        attack.fit(tiny_encoder, train.images, refs, trigger, labels=torch.full((200,), 5))
    with pytest.raises(InputError, match="Expected 200 shadow labels"):
        attack.fit(tiny_encoder, train.images, refs, trigger, labels=train.labels[:5])
    one = attack.fit(tiny_encoder, train.images, refs, trigger, labels=train.labels)
    assert one is not tiny_encoder  # a backdoored copy; the input encoder is left alone
    for bad_alpha in (-0.1, 1.5, float("nan")):
        with pytest.raises(InputError, match="Expected alpha1 in \\[0, 1\\]"):
            SourceSpecificBadEncoder(alpha1=bad_alpha)
    with pytest.raises(InputError, match="source class other than the target"):
        DownstreamClient(train, train, trigger=trigger, target=TARGET, source=TARGET)


def test_metrics_without_a_source_keep_their_four_fields():
    assert set(Metrics(True, 1.0, 2.0, 3.0).to_dict()) == {"cp", "acc", "asr", "accb"}


def test_select_bug_with_one_trigger_of_several(planted):
    """A bug drawn with another trigger carries that trigger (Table 14's second bug)."""
    _train, bad, _trigger, client = planted
    client.fit(bad, seed=0)
    other = PatchTrigger.square((1, 8, 8), size=2, corner="top-left")
    bug = select_bug(client, seed=0, trigger=other)
    source = client.test.images[bug.metadata["test_index_b"]]
    assert torch.equal(bug.x_b, other.apply(source))
