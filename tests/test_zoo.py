"""The shipped models: present, matching their recorded hashes, loadable, as documented."""

import pytest
import torch

from mudjack.encoders import read_config
from mudjack.experiments import ground_truth
from mudjack.utils import sha256_file
from mudjack.zoo import ZOO, load_zoo_encoder, manifest, zoo_path


@pytest.mark.parametrize("name", list(ZOO))
def test_shipped_model_matches_its_recorded_hash(name):
    recorded = manifest().get(name)
    assert recorded, f"{name} has no hash in MANIFEST.json; build it with `mudjack zoo build`"
    assert sha256_file(zoo_path(name) / "model.safetensors") == recorded


@pytest.mark.parametrize("name", list(ZOO))
def test_shipped_model_loads_and_follows_the_contract(name):
    enc = load_zoo_encoder(name)
    cfg = read_config(zoo_path(name))
    assert cfg["provenance"]["recipe"] == ZOO[name].recipe
    x = torch.rand(2, *enc.input_spec.shape)
    assert enc.embed(x).shape == (2, enc.embed_dim)


@pytest.mark.parametrize("name", [n for n, m in ZOO.items() if m.ground_truth])
def test_backdoored_models_record_their_trigger(name):
    trigger, target = ground_truth(name)
    assert target == ZOO[name].ground_truth["target"]
    assert trigger.pixels == ZOO[name].ground_truth["trigger"]["size"] ** 2
