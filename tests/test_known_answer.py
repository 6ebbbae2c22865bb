"""Known answer: plant a trigger in a tiny encoder, recover its mask, patch it away."""

import torch

from conftest import bugs_with_clean_reference
from mudjack import Mudjacking, TriggerReverser, select_bug


def test_plant_recover_and_patch(planted):
    train, bad, trigger, client = planted
    client.fit(bad, seed=0)
    # six bugs: on a 2x2 trigger in 8x8 images, K-means over one bug's attribution sometimes
    # keeps a third of the image (IoU ~0.2), which bug depending on the CPU's float rounding
    bugs = bugs_with_clean_reference(client, 6)
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
