"""Trigger inversion (:class:`InversionReverser`): shapes, determinism, refusals, and recovery of
a known trigger planted in a hand-built encoder."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mudjack import BugInstance, PatchTrigger
from mudjack.encoders.base import Encoder, InputSpec
from mudjack.errors import InputError
from mudjack.reverse import InversionReverser
from mudjack.triggers import PerturbationTrigger, mask_iou, perturbation_similarity

SHAPE = (1, 8, 8)


class _Backdoored(Encoder):
    """Clean features ``tanh(A(x - 0.5))`` plus a backdoor: ``gain·softplus(k·(s(x) - c))/k``
    added to feature 0, where ``s`` scores the trigger (a smooth threshold: silent on clean
    images, firing on triggered ones)."""

    name = "toy_backdoored"

    def __init__(self, score, threshold: float, gain: float = 8.0, k: float = 50.0) -> None:
        super().__init__()
        self.input_spec = InputSpec("image", *SHAPE, (0.5,), (0.5,))
        self.embed_dim = 16
        self.lin = nn.Linear(64, 16)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(0)
            self.lin.weight.copy_(torch.randn(16, 64, generator=gen) / 8)
            self.lin.bias.zero_()
        self.score, self.threshold, self.gain, self.k = score, threshold, gain, k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        clean = torch.tanh(self.lin(x.flatten(1) - 0.5))
        fire = self.gain * F.softplus(self.k * (self.score(x) - self.threshold)) / self.k
        return clean + fire[:, None] * F.one_hot(torch.tensor(0), 16).to(x)


def _clean_images(n: int, seed: int, orthogonal_to: torch.Tensor) -> torch.Tensor:
    """Images 0.5 ± 0.2 with no component along ``orthogonal_to`` (unit vector)."""
    gen = torch.Generator().manual_seed(seed)
    noise = (torch.rand(n, 64, generator=gen) - 0.5) * 0.4
    noise = noise - (noise @ orthogonal_to)[:, None] * orthogonal_to
    return (0.5 + noise).reshape(n, *SHAPE)


def _direction() -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    return torch.randint(0, 2, SHAPE, generator=gen).float() * 2 - 1


@pytest.fixture
def bug():
    gen = torch.Generator().manual_seed(0)
    return BugInstance(torch.rand(*SHAPE, generator=gen), torch.rand(*SHAPE, generator=gen), 1)


def test_perturbation_shapes_range_and_encoder_left_alone(tiny_encoder, bug, random_images):
    before = {k: v.clone() for k, v in tiny_encoder.state_dict().items()}
    rev = InversionReverser(epsilon=0.03, steps=5).reverse(tiny_encoder, bug, data=random_images)
    assert isinstance(rev.trigger, PerturbationTrigger) and rev.method == "inversion"
    assert rev.trigger.delta.shape == SHAPE
    assert 0 < rev.trigger.epsilon <= 0.03 + 1e-7
    assert rev.scores.shape == (8, 8) and torch.equal(rev.scores, rev.clustered)
    assert torch.allclose(rev.scores, rev.trigger.delta.abs().mean(0))
    for k, v in tiny_encoder.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.requires_grad and p.grad is None for p in tiny_encoder.parameters())


def test_patch_shapes_and_range(tiny_encoder, bug, random_images):
    rev = InversionReverser(mode="patch", steps=5, l1=0.1).reverse(
        tiny_encoder, bug, data=random_images
    )
    trig = rev.trigger
    assert isinstance(trig, PatchTrigger) and trig.mask.shape == (1, 8, 8)
    assert set(trig.mask.unique().tolist()) <= {0.0, 1.0} and trig.pixels > 0
    assert torch.equal(trig.pattern, trig.pattern * trig.mask)
    assert trig.pattern.min() >= 0 and trig.pattern.max() <= 1
    assert rev.scores.shape == (8, 8) and rev.scores.min() >= 0 and rev.scores.max() <= 1
    assert torch.equal(trig.mask[0], (rev.scores >= 0.5).float())
    assert all(p.grad is None for p in tiny_encoder.parameters())


@pytest.mark.parametrize("mode", ["perturbation", "patch"])
def test_same_seed_same_trigger(tiny_encoder, bug, random_images, mode):
    inv = InversionReverser(mode=mode, steps=5, batch_size=8, l1=0.1)
    a = inv.reverse(tiny_encoder, bug, data=random_images, seed=3).trigger
    b = inv.reverse(tiny_encoder, bug, data=random_images, seed=3).trigger
    assert all(torch.equal(a.tensors()[k], b.tensors()[k]) for k in a.tensors())


def test_recovers_a_whole_image_perturbation():
    v = _direction()
    unit = v.flatten() / v.norm()
    enc = _Backdoored(lambda x: (x.flatten(1) - 0.5) @ unit, threshold=0.04).eval()
    data = _clean_images(200, 2, unit)
    true = PerturbationTrigger(0.01 * v)
    bug = BugInstance(true.apply(data[0]), data[1], 0)
    with torch.no_grad():  # the planted trigger moves x's features; the clean x_r is far
        assert F.cosine_similarity(enc.embed(bug.x_b[None]), enc.embed(bug.x_r[None])) < 0.5
    rev = InversionReverser(epsilon=0.01, steps=150).reverse(enc, bug, data=data[2:], seed=0)
    random = PerturbationTrigger.random_sign(SHAPE, epsilon=0.01, seed=0)
    assert perturbation_similarity(rev.trigger.delta, true.delta) > 0.9
    assert abs(perturbation_similarity(random.delta, true.delta)) < 0.3


def test_recovers_a_patch():
    true = PatchTrigger.square(SHAPE, size=2, margin=1)
    region = true.mask.flatten().bool()
    enc = _Backdoored(lambda x: x.flatten(1)[:, region].mean(1), threshold=0.8).eval()
    data = _clean_images(200, 2, torch.zeros(64))
    bug = BugInstance(true.apply(data[0]), data[1], 0)
    rev = InversionReverser(mode="patch").reverse(enc, bug, data=data[2:], seed=0)
    top = torch.zeros(64)
    top[rev.scores.flatten().topk(4).indices] = 1  # the mask ranks the trigger pixels first
    assert torch.equal(top.view(SHAPE), true.mask)
    assert mask_iou(rev.trigger.mask, true.mask) >= 0.5
    gen = torch.Generator().manual_seed(0)
    random_mask = torch.zeros(64)
    random_mask[torch.randperm(64, generator=gen)[: rev.trigger.pixels]] = 1
    assert mask_iou(random_mask.view(SHAPE), true.mask) < 0.3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "blend"}, r"Expected mode in \('perturbation', 'patch'\), got 'blend'"),
        ({"epsilon": 0}, r"Expected epsilon in \(0, 1\]"),
        ({"epsilon": 1.5}, r"Expected epsilon in \(0, 1\]"),
        ({"epsilon": float("nan")}, r"Expected epsilon in \(0, 1\]"),
        ({"steps": 0}, "Expected steps >= 1"),
        ({"lr": -0.1}, "a finite lr > 0"),
        ({"lr": float("inf")}, "a finite lr > 0"),
        ({"batch_size": 0}, "batch_size >= 1"),
        ({"beta": -1}, "Expected a finite beta >= 0, got -1"),
        ({"l1": float("nan")}, "Expected a finite l1 >= 0, got nan"),
        ({"threshold": 0}, r"Expected threshold in \(0, 1\)"),
        ({"threshold": 1}, r"Expected threshold in \(0, 1\)"),
    ],
)
def test_bad_hyperparameters_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        InversionReverser(**kwargs)


def test_get_params_rebuilds_the_same_reverser():
    inv = InversionReverser(mode="patch", epsilon=0.02, steps=7, beta=0.0, l1=0.0)
    assert repr(InversionReverser(**inv.get_params())) == repr(inv)


def test_text_refused(tiny_bert, tiny_encoder, random_images):
    text_bug = BugInstance("the film was good cf", "the film was good", 1)
    with pytest.raises(InputError, match="inversion is for image encoders"):
        InversionReverser().reverse(tiny_bert, text_bug, data=random_images)
    with pytest.raises(InputError, match="inversion is for image encoders"):
        InversionReverser().reverse(tiny_encoder, text_bug, data=random_images)


def test_bad_data_refused(tiny_encoder, bug):
    with pytest.raises(InputError, match=r"Expected data of shape \(N, 1, 8, 8\)"):
        InversionReverser(steps=1).reverse(tiny_encoder, bug, data=torch.rand(4, 3, 8, 8))
    with pytest.raises(InputError, match="at least one clean image"):
        InversionReverser(steps=1).reverse(tiny_encoder, bug, data=torch.empty(0, 1, 8, 8))


def test_empty_mask_refused_with_advice(tiny_encoder, bug, random_images):
    with pytest.raises(InputError, match=r"no trigger pixel.*Lower l1"):
        InversionReverser(mode="patch", steps=20, lr=0.5, l1=1000).reverse(
            tiny_encoder, bug, data=random_images
        )
