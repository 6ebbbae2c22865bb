import pytest
import torch

from mudjack import BugInstance, Mudjacking, PatchTrigger, TriggerReverser, create_patcher
from mudjack.errors import InputError, UnknownNameError
from mudjack.reverse import METHODS


@pytest.fixture
def bug():
    gen = torch.Generator().manual_seed(0)
    return BugInstance(torch.rand(1, 8, 8, generator=gen), torch.rand(1, 8, 8, generator=gen), 1)


@pytest.mark.parametrize("method", METHODS)
def test_every_attribution_method_scores_every_pixel(tiny_encoder, bug, method):
    rev = TriggerReverser(method=method, window=2).reverse(tiny_encoder, bug, seed=0)
    assert rev.scores.shape == (8, 8) and torch.isfinite(rev.scores).all()
    assert 0 < rev.trigger.pixels < 64
    # the recovered pattern is x_b under the mask
    assert torch.equal(rev.trigger.pattern, bug.x_b * rev.trigger.mask)
    # the trigger cluster has the higher mean score magnitude
    m = rev.trigger.mask[0] > 0.5
    assert rev.scores.abs()[m].mean() > rev.scores.abs()[~m].mean()


def test_clustering_uses_magnitudes_unless_signed():
    scores = torch.zeros(6, 6)
    scores[4:, 4:] = -1.0  # a strongly negative block, as a trigger can have
    scores[0, 0] = 0.1
    block = torch.zeros(1, 6, 6)
    block[:, 4:, 4:] = 1
    assert torch.equal(TriggerReverser().cluster(scores), block)
    assert torch.equal(TriggerReverser(signed=True).cluster(scores), 1 - block)


def test_unknown_method():
    with pytest.raises(UnknownNameError, match="Unknown attribution method 'lime'"):
        TriggerReverser(method="lime")


def test_unknown_patcher():
    message = r"Unknown patching method 'magic'\. Expected one of"
    with pytest.raises(UnknownNameError, match=message):
        create_patcher("magic")


def test_empty_validation_set(tiny_encoder, bug):
    with pytest.raises(InputError, match="non-empty validation set"):
        Mudjacking().patch(
            tiny_encoder, bug, torch.empty(0, 1, 8, 8), PatchTrigger.square((1, 8, 8), size=2)
        )


def test_mismatched_validation_set(tiny_encoder, bug):
    with pytest.raises(InputError, match=r"validation inputs of shape \(N, 1, 8, 8\), got"):
        Mudjacking().patch(
            tiny_encoder, bug, torch.rand(4, 3, 16, 16), PatchTrigger.square((1, 8, 8), size=2)
        )


def test_patch_needs_a_trigger(tiny_encoder, bug):
    with pytest.raises(InputError, match="needs a trigger"):
        Mudjacking().patch(tiny_encoder, bug, torch.rand(4, 1, 8, 8))


def test_random_location_variant_runs(tiny_encoder, bug):
    res = Mudjacking(epochs=1, batch_size=4, random_location=True).patch(
        tiny_encoder, bug, torch.rand(7, 1, 8, 8), PatchTrigger.square((1, 8, 8), size=2)
    )
    assert res.steps == 2 and res.params["random_location"] is True
