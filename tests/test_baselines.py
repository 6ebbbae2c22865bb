"""The encoder-side (section 5.1) and client-side (section 5.3) baselines on the planted tiny
encoder: each does what its paper says it does, through the shared interfaces."""

import pytest
import torch

from conftest import bugs_with_clean_reference
from mudjack import create_patcher
from mudjack.downstream import create_client_patcher, list_client_patchers
from mudjack.errors import InputError, UnknownNameError
from mudjack.patching import FinePruning, Mudjacking, list_patchers
from mudjack.patching.baselines import project_l1_ball


@pytest.fixture(scope="module")
def case(planted):
    train, bad, trigger, client = planted
    client.fit(bad, seed=0)
    bug = bugs_with_clean_reference(client, 1)[0]
    return train, bad, trigger, client, bug


def _cos(encoder, bug):
    f = encoder.eval().embed(torch.stack([bug.x_b, bug.x_r]))
    return float(f[0] @ f[1])


def _delta(a, b):
    return torch.cat(
        [(p - q).flatten() for p, q in zip(a.parameters(), b.parameters(), strict=True)]
    )


def test_every_baseline_is_registered():
    assert set(list_patchers()) >= {
        "mudjacking",
        "ft",
        "ft-l2",
        "ft-linf",
        "unlearning",
        "fine-pruning",
    }
    assert list_client_patchers() == ["ai-lancet", "beagle", "client-ft", "client-ft-train"]
    with pytest.raises(UnknownNameError, match="Expected one of: ai-lancet"):
        create_client_patcher("lancet")


def test_ft_optimises_the_effectiveness_loss_alone_without_a_trigger(case):
    train, bad, _, _, bug = case
    before = _cos(bad, bug)
    result = create_patcher("ft", epochs=10, batch_size=64, max_steps=30, lr=1e-3).patch(
        bad, bug, train.images[:256], None, seed=0
    )
    assert result.steps == 30
    after = _cos(result.encoder, bug)  # most of the way to 1, from wherever it started
    assert after > 0.9 and 1 - after < (1 - before) / 4, (before, after)
    assert set(result.history[-1]) == {"step", "loss", "effectiveness"}
    assert "lambda_l" not in result.params
    with pytest.raises(InputError, match=r"Unknown argument 'lambda_g' for patching method 'ft'"):
        create_patcher("ft", lambda_g=1.0)


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("ft-l2", lambda d, n: float(d.norm()) <= 0.01 * (1 + 1e-4)),
        ("ft-linf", lambda d, n: float(d.abs().max()) <= 0.01 + 1e-6),
        ("unlearning", lambda d, n: float(d.abs().sum()) <= 0.01 * n * (1 + 1e-4)),
    ],
)
def test_bounded_fine_tuning_stays_in_its_ball(case, name, check):
    train, bad, _, _, bug = case
    kw = {"epochs": 20, "batch_size": 64, "max_steps": 20, "lr": 1e-2}
    free = create_patcher("ft", **kw).patch(bad, bug, train.images[:128], seed=0).encoder
    result = create_patcher(name, **kw).patch(bad, bug, train.images[:128], seed=0)
    bounded = result.encoder
    n = sum(p.numel() for p in bad.parameters())
    assert not check(_delta(free, bad), n)  # unconstrained FT leaves the ball: the bound binds
    assert check(_delta(bounded, bad), n)
    assert _cos(bounded, bug) > _cos(bad, bug)
    assert 1 <= result.history[-1]["projected_steps"] <= 20


def test_a_bound_that_never_binds_is_logged_and_changes_nothing(case):
    train, bad, _, _, bug = case
    kw = {"epochs": 5, "batch_size": 64, "max_steps": 5, "lr": 1e-4}
    free = create_patcher("ft", **kw).patch(bad, bug, train.images[:128], seed=0)
    loose = create_patcher("ft-l2", delta=1e6, **kw).patch(bad, bug, train.images[:128], seed=0)
    assert loose.history[-1]["projected_steps"] == 0
    assert _delta(loose.encoder, free.encoder).abs().max() < 1e-6


def test_l1_projection_matches_the_sorting_solution():
    v = torch.tensor([3.0, -1.0, 0.5])
    assert torch.allclose(project_l1_ball(v, 2.0), torch.tensor([2.0, 0.0, 0.0]))
    assert torch.equal(project_l1_ball(v, 10.0), v)
    gen = torch.Generator().manual_seed(0)
    v = torch.randn(1000, generator=gen)
    radius = 20.0
    u, _ = v.abs().sort(descending=True)  # Duchi et al. (2008): the sorting algorithm
    css = u.cumsum(0)
    k = torch.arange(1, len(u) + 1)
    rho = int((u - (css - radius) / k > 0).nonzero().max())
    tau = (css[rho] - radius) / (rho + 1)
    expected = v.sign() * (v.abs() - tau).clamp_min(0)
    got = project_l1_ball(v, radius)
    assert torch.allclose(got, expected, atol=1e-5)
    assert float(got.abs().sum()) == pytest.approx(radius, rel=1e-5)


def test_fine_pruning_zeroes_the_channels_dormant_on_x_r(case):
    train, bad, _, _, bug = case
    result = FinePruning(epochs=2, batch_size=64, max_steps=5).patch(
        bad, bug, train.images[:256], seed=0
    )
    pruned = result.params["pruned"]
    conv, bn = result.encoder.pruning_layer()
    assert len(pruned) == conv.out_channels // 2 and result.steps == 5
    # the pruned channels stayed at zero through fine-tuning, so they output exactly zero
    assert conv.weight[pruned].abs().sum() == 0 and bn.weight[pruned].abs().sum() == 0
    out = []
    h = bn.register_forward_hook(lambda _m, _i, o: out.append(o))
    result.encoder.eval()(train.images[:8])
    h.remove()
    assert out[0][:, pruned].abs().max() == 0
    # they were the least active channels of the backdoored encoder on x_r
    acts = []
    _, bn0 = bad.pruning_layer()
    h = bn0.register_forward_hook(lambda _m, _i, o: acts.append(torch.relu(o).mean((0, 2, 3))))
    bad.eval()(bug.x_r[None])
    h.remove()
    kept = sorted(set(range(conv.out_channels)) - set(pruned))
    assert acts[0][pruned].max() <= acts[0][kept].min()
    # the input encoder is untouched
    assert bad.pruning_layer()[0].weight[pruned].abs().sum() > 0


def test_fine_pruning_refuses_a_text_encoder(tiny_bert):
    from conftest import make_sentences
    from mudjack import BugInstance

    texts, _ = make_sentences(8, seed=0)
    with pytest.raises(InputError, match="image encoders only"):
        FinePruning().patch(tiny_bert, BugInstance("cf " + texts[0], texts[1], 0), texts[2:])


def test_mudjacking_without_generalizability_needs_no_trigger(case):
    train, bad, _, _, bug = case
    patcher = Mudjacking(lambda_g=0.0, epochs=1, batch_size=32, max_steps=3)
    result = patcher.patch(bad, bug, train.images[:64], None, seed=0)
    assert "generalizability" not in result.history[-1] and "locality" in result.history[-1]
    with pytest.raises(InputError, match="needs a trigger"):
        Mudjacking().patch(bad, bug, train.images[:64], None)


@pytest.mark.parametrize("name", ["client-ft", "client-ft-train", "ai-lancet", "beagle"])
def test_client_side_patch_changes_a_copy_and_leaves_the_client_alone(case, name):
    _, _, trigger, client, bug = case
    before = client.metrics(bug.x_b, bug.label)
    weights = [p.clone() for p in client.classifier_.model_.parameters()]
    result = create_client_patcher(name).patch(client, bug, trigger, seed=0)
    after = client.metrics(bug.x_b, bug.label, classifier=result.classifier)
    assert before.cp is False
    assert any(
        not torch.equal(a, b)
        for a, b in zip(weights, result.classifier.model_.parameters(), strict=True)
    )
    assert all(
        torch.equal(a, b)
        for a, b in zip(weights, client.classifier_.model_.parameters(), strict=True)
    )
    assert client.metrics(bug.x_b, bug.label) == before
    if name == "client-ft":  # 50 epochs on (x_b, y_b) alone: x_b itself is fixed
        assert after.cp is True
    if name == "ai-lancet":
        assert after.cp is result.info["fixed"]
    if name == "beagle":  # stamped inputs at their true labels: the exact trigger stops working
        assert after.asr < before.asr - 50 and after.accb > before.accb + 30


def test_ai_lancet_flips_neurons_in_score_order_until_the_bug_is_fixed(case):
    _, _, _, client, bug = case
    result = create_client_patcher("ai-lancet", max_fraction=1.0).patch(client, bug)
    info = result.info
    flipped, scores = info["flipped"], info["scores"]
    assert len(flipped) >= 1 and scores == sorted(scores, reverse=True) and min(scores) > 0
    # it stops at the first count that fixes x_b, or when no neuron pushes x_b the wrong way
    assert info["fixed"] or len(flipped) == info["positive"]
    if info["fixed"] and len(flipped) > 1:
        fewer = create_client_patcher("ai-lancet", max_fraction=(len(flipped) - 1) / 64)
        assert not fewer.patch(client, bug).info["fixed"]
    out = result.classifier.model_.net[-1].weight
    orig = client.classifier_.model_.net[-1].weight
    assert torch.equal(out[:, flipped], -orig[:, flipped])
    others = [j for j in range(out.shape[1]) if j not in flipped]
    assert torch.equal(out[:, others], orig[:, others])


def test_beagle_needs_a_trigger_and_a_fitted_client(case, digits):
    from mudjack import DownstreamClient

    _, _, _, client, bug = case
    with pytest.raises(InputError, match="needs a trigger"):
        create_client_patcher("beagle").patch(client, bug)
    with pytest.raises(InputError, match=r"call client.fit\(encoder\) first"):
        create_client_patcher("client-ft").patch(DownstreamClient(digits, digits), bug)
    with pytest.raises(InputError, match="Expected epochs >= 1"):
        create_client_patcher("client-ft", epochs=0)


def test_normal_bug_is_a_clean_misclassified_input(case):
    from mudjack.bug import select_normal_bug

    _, _, _, client, _ = case
    bug = select_normal_bug(client, seed=0)
    i, j = bug.metadata["test_index_b"], bug.metadata["test_index_r"]
    assert torch.equal(bug.x_b, client.test.images[i]) and bug.metadata["kind"] == "normal"
    assert int(client.test.labels[i]) == int(client.test.labels[j]) == bug.label
    pred = client.predict(torch.stack([bug.x_b, bug.x_r]))
    assert int(pred[0]) != bug.label and int(pred[1]) == bug.label
    assert select_normal_bug(client, seed=0).metadata == bug.metadata


def test_synthesised_reference_matches_the_feature_not_the_image(case):
    from mudjack.bug import synthesize_reference

    _, bad, _, _, bug = case
    x = synthesize_reference(bad, bug.x_r, steps=100, seed=0)
    assert x.shape == bug.x_r.shape and x.min() >= 0 and x.max() <= 1
    f = bad.eval().embed(torch.stack([x, bug.x_r, torch.rand_like(x)]))
    assert float(f[0] @ f[1]) > 0.95 > float(f[2] @ f[1])
    assert (x - bug.x_r).abs().mean() > 0.1  # an input of its own, not a copy of x_r
    with pytest.raises(InputError, match="steps >= 1"):
        synthesize_reference(bad, bug.x_r, steps=0)
