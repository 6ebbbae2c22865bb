"""scikit-learn's parameter contract over every registry, the records results keep, and what the
library leaves alone: per-call state, constructor arguments, global state, a caller's encoder."""

import inspect
import os
import re
from pathlib import Path

import pytest
import torch

from conftest import make_sentences
from mudjack import BugInstance, DownstreamClient, MLPClassifier, PatchTrigger, SimCLR
from mudjack.attacks import BadEncoder, create_attack
from mudjack.data import ImageDataset, TextDataset
from mudjack.downstream import create_client_patcher, extract_features
from mudjack.encoders import create_encoder, on_device
from mudjack.errors import InputError
from mudjack.experiments import get_setting
from mudjack.patching import create_patcher
from mudjack.registry import Registry, registries
from mudjack.reverse import create_reverser, list_reversers
from mudjack.triggers import TextTrigger
from test_encoders import SMALL

# Registries whose entries build objects with hyperparameters (trigger kinds and data set
# loaders build data, not components).
CONFIGURABLE = [
    (kind, name)
    for kind, reg in registries().items()
    if kind not in ("trigger", "dataset")
    for name in reg.names()
]


def _build(kind, name, tmp_path):
    reg = registries()[kind]
    return reg.create(name, **(SMALL[name](tmp_path) if kind == "encoder" else {}))


def _constructor_names(obj):
    return [p for p in inspect.signature(type(obj).__init__).parameters if p != "self"]


def test_every_kind_of_component_is_on_the_one_registry_class():
    regs = registries()
    kinds = {"encoder", "patcher", "client-patcher", "reverser", "attack", "trigger", "dataset"}
    assert set(regs) == kinds
    assert all(type(r) is Registry for r in regs.values())
    assert regs["attack"].names() == ["badencoder", "badencoder-source", "neuba", "por"]
    assert regs["trigger"].create("text", words=["cf"]) == TextTrigger(["cf"])
    patch = regs["trigger"].create("patch", pattern=torch.ones(1, 4, 4), mask=torch.ones(4, 4))
    assert isinstance(patch, PatchTrigger) and patch.pixels == 16
    assert {"fashion_mnist", "mnist5k", "wordnet", "rotten_tomatoes"} <= set(regs["dataset"])
    assert len(regs["dataset"].create("sklearn_digits", size=8)) == 1797


@pytest.mark.parametrize(("kind", "name"), CONFIGURABLE)
def test_get_params_is_the_constructor_arguments_and_rebuilds_an_equal_object(tmp_path, kind, name):
    obj = _build(kind, name, tmp_path)
    params = obj.get_params()
    assert list(params) == _constructor_names(obj)
    again = type(obj)(**params)
    assert again.get_params() == params


@pytest.mark.parametrize(
    "obj",
    [
        SimCLR(epochs=3),
        MLPClassifier(hidden=[8]),
        DownstreamClient(
            ImageDataset(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])),
            ImageDataset(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])),
            trigger=PatchTrigger.square((1, 8, 8), size=2),
            batch_size=2,
        ),
    ],
    ids=["simclr", "mlp", "client"],
)
def test_trainers_and_clients_follow_the_contract_too(obj):
    params = obj.get_params()
    assert list(params) == _constructor_names(obj)
    assert type(obj)(**params).get_params() == params


def test_a_registry_names_the_arguments_a_constructor_takes():
    with pytest.raises(
        InputError, match=r"Unknown argument 'lambda_g' for patching method 'ft'\. "
    ):
        create_patcher("ft", lambda_g=1.0)
    with pytest.raises(InputError, match=r"Expected some of: triggers, steps, batch_size"):
        create_attack("por", epochs=3)
    assert create_reverser("gradcam", window=3).get_params()["method"] == "gradcam"
    assert list_reversers("text") == ["gradient", "occlusion"]


AUG = "PatchAugment(flip_p=0.5, jitter_p=0.8, brightness=0.4, contrast=0.4, saturation=0.4, grey_p=0.2)"  # noqa: E501
SCHEDULE = {"epochs": 200, "batch_size": 256, "lr": 0.001, "max_steps": None, "optimizer": "adam"}


@pytest.mark.parametrize(
    ("obj", "record"),
    [
        (
            create_patcher("mudjacking"),
            {"lambda_e": 1.0, "lambda_l": 1.0, "lambda_g": 1.0, **SCHEDULE, "augment": AUG,
             "random_location": False, "reference_terms": True, "log_every": 10},
        ),
        (create_patcher("ft"), {**SCHEDULE, "augment": AUG, "log_every": 10}),
        (
            create_patcher("ft-linf"),
            {**SCHEDULE, "augment": AUG, "log_every": 10, "p": "inf", "delta": 0.01},
        ),
        (
            create_patcher("fine-pruning"),
            {"ratio": 0.5, "epochs": 50, "batch_size": 256, "lr": 0.001, "max_steps": None,
             "temperature": 0.5, "augment": None},
        ),
        (create_client_patcher("beagle"), {"epochs": 50, "lr": 0.001, "batch_size": None}),
        (
            BadEncoder(),
            {"epochs": 200, "batch_size": 256, "lr": 0.001, "lambda1": 1.0, "lambda2": 1.0,
             "optimizer": "adam"},
        ),
        (
            create_attack("por"),
            {"triggers": ["cf", "mn", "bb", "tq"], "steps": 400, "batch_size": 16, "lr": 0.0001,
             "lambda_clean": 1.0},
        ),
        (
            SimCLR(),
            {"epochs": 1000, "batch_size": 256, "lr": 0.001, "weight_decay": 1e-06,
             "temperature": 0.5, "proj_dim": 128,
             "augment": "SimCLRAugment(flip_p=0.5, jitter_p=0.8, brightness=0.4, contrast=0.4, "
             "saturation=0.4, grey_p=0.2, scale=(0.2, 1.0))",
             "max_steps": None},
        ),
    ],
    ids=["mudjacking", "ft", "ft-linf", "fine-pruning", "beagle", "badencoder", "por", "simclr"],
)  # fmt: skip
def test_provenance_records_what_results_have_always_recorded(obj, record):
    assert obj.provenance() == record
    assert list(obj.provenance()) == list(record)  # the same keys in the same order


@pytest.fixture
def image_bug():
    gen = torch.Generator().manual_seed(0)
    return BugInstance(torch.rand(1, 8, 8, generator=gen), torch.rand(1, 8, 8, generator=gen), 1)


def _snapshot(encoder):
    return [(p, p.detach().clone(), p.device) for p in encoder.parameters()]


def _untouched(encoder, snapshot):
    now = list(encoder.parameters())
    return len(now) == len(snapshot) and all(
        p is q and p.device == dev and torch.equal(p.detach(), v)
        for p, (q, v, dev) in zip(now, snapshot, strict=True)
    )


@pytest.mark.parametrize("name", ["mudjacking", "ft-l2", "unlearning", "fine-pruning"])
def test_a_patcher_keeps_no_per_call_state_and_leaves_the_encoder_alone(
    tiny_encoder, image_bug, name
):
    patcher = create_patcher(name, max_steps=2, batch_size=4)
    before = dict(vars(patcher))
    snap = _snapshot(tiny_encoder)
    val = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    result = patcher.patch(tiny_encoder, image_bug, val, PatchTrigger.square((1, 8, 8), size=2))
    assert vars(patcher).keys() == before.keys()
    assert all(vars(patcher)[k] is v for k, v in before.items())
    assert _untouched(tiny_encoder, snap)
    assert result.encoder is not tiny_encoder


def test_reverser_and_client_leave_the_callers_encoder_alone(tiny_encoder, image_bug, digits):
    snap = _snapshot(tiny_encoder)
    create_reverser("occlusion", window=2).reverse(tiny_encoder, image_bug, device="cpu")
    create_reverser("saliency").reverse(tiny_encoder, image_bug, device="cpu")
    train, test = digits.subset(slice(0, 200)), digits.subset(slice(200, 300))
    client = DownstreamClient(
        train,
        test,
        trigger=PatchTrigger.square((1, 8, 8), size=2),
        classifier=MLPClassifier(hidden=(8,), epochs=2),
        device="cpu",
    )
    client.fit(tiny_encoder, seed=0)
    create_client_patcher("beagle", epochs=1).patch(client, image_bug, client.trigger)
    assert _untouched(tiny_encoder, snap)
    assert on_device(tiny_encoder, "cpu") is tiny_encoder  # already there: used as it is


def test_client_fit_keeps_its_constructor_arguments(digits):
    train, test = digits.subset(slice(0, 200)), digits.subset(slice(200, 300))
    torch.manual_seed(0)
    enc = create_encoder("tiny_cnn", width=4, in_channels=1, image_size=8, embed_dim=8).eval()
    settings = MLPClassifier(hidden=(8,), epochs=2)
    client = DownstreamClient(
        train, test, trigger=PatchTrigger.square((1, 8, 8), size=2), classifier=settings
    )
    params = client.get_params()
    client.fit(enc, seed=0)
    after = client.get_params()
    assert after.keys() == params.keys() and all(after[k] is v for k, v in params.items())
    assert client.target is None and not hasattr(settings, "model_")  # neither rewritten
    assert client.target_ in range(10)  # learned: the class most triggered inputs get
    assert (client.triggered_.labels != client.target_).all()
    assert client.classifier_ is not settings
    assert client.classifier_.get_params() == settings.get_params()
    assert client.refit(seed=1).target_ == client.target_  # a refit keeps the learned target


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_computing_on_a_gpu_never_moves_the_callers_encoder(tiny_encoder, image_bug):
    snap = _snapshot(tiny_encoder)
    create_reverser("occlusion", window=2).reverse(tiny_encoder, image_bug, device="cuda")
    feats = extract_features(tiny_encoder, torch.rand(4, 1, 8, 8), device="cuda")
    create_patcher("mudjacking", max_steps=1, batch_size=4).patch(
        tiny_encoder, image_bug, torch.rand(4, 1, 8, 8), PatchTrigger.square((1, 8, 8), size=2),
        device="cuda",
    )  # fmt: skip
    assert feats.device.type == "cpu" and _untouched(tiny_encoder, snap)
    moved = on_device(tiny_encoder, "cuda")
    assert moved is not tiny_encoder and next(moved.parameters()).is_cuda


def test_building_a_text_encoder_changes_no_global_state(tmp_path, tiny_bert):
    import transformers

    folder = tmp_path / "hf"
    tiny_bert.model.save_pretrained(str(folder))
    tiny_bert.tokenizer.save_pretrained(str(folder))
    environ = dict(os.environ)
    verbosity = transformers.utils.logging.get_verbosity()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    from mudjack import load_encoder

    enc = load_encoder(folder)
    assert enc.embed(make_sentences(2, seed=0)[0]).shape == (2, 32)
    assert dict(os.environ) == environ
    assert transformers.utils.logging.get_verbosity() == verbosity
    assert transformers.utils.logging.is_progress_bar_enabled() == bars


def test_get_setting_returns_a_copy():
    s = get_setting("default")
    s.patch["lr"] = 123.0
    s.classifier["hidden"] = ()
    assert get_setting("default").patch["lr"] == 1e-3
    assert get_setting("default").classifier["hidden"] == (512, 256)
    assert get_setting("default-paper").patch is not get_setting("default-paper").patch


_GLOBAL_STATE = re.compile(
    r"os\.environ\[[^]]+\]\s*=[^=]|os\.environ\.(setdefault|update|pop)|os\.putenv|"
    r"set_verbosity|disable_progress_bar|logging\.basicConfig|matplotlib\.use\(|"
    r"set_num_threads|warnings\.filterwarnings"
)


def test_the_library_sets_no_global_state():
    """Only the command line may configure the process (environment, logging, plotting)."""
    import mudjack

    root = Path(mudjack.__file__).parent
    found = [
        f"{path.relative_to(root).as_posix()}: {m.group(0)}"
        for path in sorted(root.rglob("*.py"))
        if path.relative_to(root).parts[0] != "cli"  # the command line may
        for m in _GLOBAL_STATE.finditer(path.read_text(encoding="utf-8"))
    ]
    assert not found
    cli = (root / "cli" / "__init__.py").read_text(encoding="utf-8")
    assert _GLOBAL_STATE.search(cli)  # the pattern does find what the command line does


def test_text_client_records_the_found_target_apart(tiny_bert):
    texts, labels = make_sentences(40, seed=0)
    data = TextDataset(texts, labels, ("neg", "pos"))
    client = DownstreamClient(
        data, data, trigger=TextTrigger(["cf"]), classifier=MLPClassifier(hidden=(), epochs=2)
    ).fit(tiny_bert, seed=0)
    assert client.target is None and client.target_ in (0, 1)
    assert client.metrics().asr >= 0
