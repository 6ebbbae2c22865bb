"""Known answer: plant a trigger in a tiny encoder, recover its mask, patch it away."""

import pytest
import torch

from mudjack import (
    BadEncoder,
    BugInstance,
    DownstreamClient,
    MLPClassifier,
    Mudjacking,
    PatchTrigger,
    SimCLR,
    TriggerReverser,
    create_encoder,
    select_bug,
)
from mudjack.attacks import select_reference_inputs


@pytest.fixture(scope="module")
def planted(digits):
    data = digits.shuffled(0)
    train, test = data.subset(slice(0, 1200)), data.subset(slice(1200, None))
    torch.manual_seed(0)
    clean = create_encoder("tiny_cnn", width=8, in_channels=1, image_size=8, embed_dim=16)
    SimCLR(epochs=10, batch_size=128).fit(clean, train.images, seed=0)
    trigger = PatchTrigger.square((1, 8, 8), size=2)
    refs = select_reference_inputs(train, 0, 3, seed=0)
    bad = BadEncoder(epochs=30, batch_size=128).fit(clean, train.images, refs, trigger, seed=0)
    client = DownstreamClient(
        train,
        test,
        trigger=trigger,
        target=0,
        classifier=MLPClassifier(hidden=(64,), epochs=50, lr=1e-3, batch_size=128),
    )
    return train, bad, trigger, client


def _bugs_with_clean_reference(client, n):
    """Real bugs whose x_r is x_b's own clean source (when the client gets that right), so the
    planted trigger is the only difference between the two and the true mask is the answer."""
    found = []
    for seed in range(50):
        bug = select_bug(client, seed=seed)
        source = client.test.images[bug.metadata["test_index_b"]]
        if int(client.predict(source.unsqueeze(0))[0]) == bug.label:
            found.append(BugInstance(bug.x_b, source, bug.label, bug.metadata))
        if len(found) == n:
            return found
    raise AssertionError("too few bug instances with a correctly classified clean source")


def test_plant_recover_and_patch(planted):
    train, bad, trigger, client = planted
    client.fit(bad, seed=0)
    bugs = _bugs_with_clean_reference(client, 3)
    bug = bugs[0]
    before = client.metrics(bug.x_b, bug.label)
    assert before.asr > 90 and before.cp is False

    reverser = TriggerReverser(window=2)
    recovered = [reverser.reverse(bad, b, seed=0) for b in bugs]
    ious = [r.iou(trigger.mask) for r in recovered]
    assert sum(ious) / len(ious) >= 0.5, ious
    rev = recovered[0]

    weights = [p.clone() for p in bad.parameters()]
    result = Mudjacking(epochs=20, batch_size=64).patch(
        bad, bug, train.images[:500], rev.trigger, seed=0
    )
    assert all(torch.equal(a, b) for a, b in zip(weights, bad.parameters(), strict=True))
    assert result.steps == 20 * 8
    after = client.fit(result.encoder, seed=0).metrics(bug.x_b, bug.label)
    assert after.cp is True
    assert after.asr < 20 and after.asr < before.asr - 60
    assert after.acc > before.acc - 10


def test_patch_is_reproducible(planted):
    train, bad, trigger, client = planted
    client.fit(bad, seed=1)
    bug = select_bug(client, seed=1)
    runs = [
        Mudjacking(epochs=1, batch_size=64, max_steps=3)
        .patch(bad, bug, train.images[:200], trigger, seed=5)
        .encoder
        for _ in range(2)
    ]
    x = train.images[:10]
    assert torch.equal(runs[0].embed(x), runs[1].embed(x))
