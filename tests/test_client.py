import pytest
import torch

from mudjack.data import ImageDataset
from mudjack.downstream import DownstreamClient, MLPClassifier, triggered_non_target
from mudjack.errors import InputError
from mudjack.triggers import PatchTrigger


def test_classifier_learns_separable_features():
    gen = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=gen)
    centers = torch.eye(3) * 4
    x = centers[y] + torch.randn(300, 3, generator=gen) * 0.3
    clf = MLPClassifier(hidden=(16,), epochs=30, lr=1e-2, batch_size=32).fit(x, y, seed=0)
    assert (clf.predict(x) == y).float().mean() > 0.97
    with pytest.raises(InputError, match="not fitted"):
        MLPClassifier().predict(x)


def test_triggered_set_excludes_the_target_class():
    x = torch.zeros(6, 1, 8, 8)
    data = ImageDataset(x, torch.tensor([0, 1, 2, 0, 1, 2]))
    trig = triggered_non_target(data, PatchTrigger.square((1, 8, 8), size=2), target=0)
    assert trig.labels.tolist() == [1, 2, 1, 2]
    assert (trig.images.flatten(1).sum(1) == 4).all()


def test_metrics_follow_the_paper_definitions(digits, tiny_encoder):
    train, test = digits.subset(slice(0, 600)), digits.subset(slice(600, 900))
    trigger = PatchTrigger.square((1, 8, 8), size=2)
    client = DownstreamClient(
        train,
        test,
        trigger=trigger,
        target=0,
        classifier=MLPClassifier(hidden=(32,), epochs=20, lr=1e-2, batch_size=64),
    ).fit(tiny_encoder, seed=0)
    m = client.metrics()
    pred = client.classifier_.predict(client.test_features_)
    assert m.acc == pytest.approx(100 * (pred == test.labels).float().mean().item())
    tp = client.classifier_.predict(client.triggered_features_)
    non_target = test.labels[test.labels != 0]
    assert m.asr == pytest.approx(100 * (tp == 0).float().mean().item())
    assert m.accb == pytest.approx(100 * (tp == non_target).float().mean().item())
    assert m.cp is None
    i = 0
    assert client.metrics(test.images[i], int(test.labels[i])).cp == bool(pred[i] == test.labels[i])


def test_client_target_needs_a_trigger(digits):
    with pytest.raises(InputError, match="Give the trigger whose target class this is"):
        DownstreamClient(digits, digits, target=1)


def test_refit_needs_features_and_reuses_them(digits, tiny_encoder):
    clf = MLPClassifier(hidden=(16,), epochs=2, lr=1e-2, batch_size=64)
    client = DownstreamClient(
        digits.subset(slice(0, 200)), digits.subset(slice(200, 300)), classifier=clf
    )
    with pytest.raises(InputError, match=r"call fit\(encoder\) first"):
        client.refit(seed=0)
    client.fit(tiny_encoder, seed=3)
    feats = client.train_features_
    first = client.classifier_.predict(client.test_features_)
    assert torch.equal(client.refit(seed=3).classifier_.predict(client.test_features_), first)
    assert client.train_features_ is feats


def test_base_rate_is_the_asr_of_a_trigger_with_no_effect(digits, tiny_encoder):
    train, test = digits.subset(slice(0, 600)), digits.subset(slice(600, 900))
    clf = MLPClassifier(hidden=(32,), epochs=5, lr=1e-2, batch_size=64)
    # A square that writes the value every digit already has in its corner changes nothing.
    assert (test.images[..., :1, :1] == 0).all()
    noop = PatchTrigger.square((1, 8, 8), size=1, corner="top-left", value=0.0)
    client = DownstreamClient(train, test, trigger=noop, target=3, classifier=clf)
    client.fit(tiny_encoder, seed=0)
    m = client.metrics()
    base = client.base_rate()
    pred = client.classifier_.predict(client.test_features_[test.labels != 3])
    assert base == pytest.approx(100 * (pred == 3).float().mean().item())
    assert 0 < base < 50  # the 5-epoch client errs towards class 3 on some inputs
    assert m.asr == pytest.approx(base)
    with pytest.raises(InputError, match="no fitted attack target"):
        DownstreamClient(train, test, classifier=clf).fit(tiny_encoder).base_rate()
