"""The shipped models: present, matching their recorded hashes, loadable, as documented."""

import pytest
import torch

from mudjack import ground_truth
from mudjack.encoders import read_config
from mudjack.errors import ModelLoadError
from mudjack.triggers import TextTrigger
from mudjack.utils import sha256_file
from mudjack.zoo import ZOO, load_zoo_encoder, manifest, zoo_path
from mudjack.zoo.models import cache_dir, recipe_hash

SHIPPED = [n for n, m in ZOO.items() if not m.cached and m.recipe["method"] != "bundled"]
BUILT_ON_USE = [n for n, m in ZOO.items() if m.cached]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_matches_its_recorded_hash(name):
    recorded = manifest().get(name)
    assert recorded, f"{name} has no hash in MANIFEST.json; build it with `mudjack zoo build`"
    assert sha256_file(zoo_path(name) / "model.safetensors") == recorded


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_and_follows_the_contract(name):
    enc = load_zoo_encoder(name)
    cfg = read_config(zoo_path(name))
    assert cfg["provenance"]["recipe"] == ZOO[name].recipe
    x = torch.rand(2, *enc.input_spec.shape)
    assert enc.embed(x).shape == (2, enc.embed_dim)


@pytest.mark.parametrize("name", [n for n in SHIPPED if ZOO[n].ground_truth])
def test_backdoored_models_record_their_trigger(name):
    trigger, target = ground_truth(name)
    assert target == ZOO[name].ground_truth["target"]
    assert trigger.pixels == ZOO[name].ground_truth["trigger"]["size"] ** 2


@pytest.mark.parametrize("name", BUILT_ON_USE)
def test_text_models_are_built_into_the_cache_and_know_their_trigger(name, monkeypatch, tmp_path):
    monkeypatch.setenv("MUDJACK_CACHE", str(tmp_path))
    assert cache_dir() == tmp_path
    assert zoo_path(name) == tmp_path / "models" / f"{name}-{recipe_hash(name)}"
    trigger, target = ground_truth(name)
    assert isinstance(trigger, TextTrigger) and target is None
    assert trigger.words == tuple(ZOO[name].ground_truth["trigger"]["words"])
    with pytest.raises(ModelLoadError, match="not built yet"):
        load_zoo_encoder(name, build=False)


def test_recipe_hash_changes_with_the_recipe():
    assert recipe_hash("minilm-por") != recipe_hash("minilm-neuba")
