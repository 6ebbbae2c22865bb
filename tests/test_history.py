"""Version history: `mudjack history`, `mudjack diff` and `mudjack replay` on a chain of two
patches of a tiny encoder."""

from __future__ import annotations

import json

import pytest
import torch

from mudjack.cli import main
from mudjack.encoders import create_encoder, load_encoder
from mudjack.errors import InputError
from mudjack.history import feature_drift, patch_chain, weight_changes
from mudjack.utils import seeded, sha256_tensors, write_json_atomic


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def chain(patch_args, tmp_path, capsys):
    """enc -> p1 -> p2: two patches with the same bug (the second from p1)."""
    args = [str(a) for a in patch_args]
    code, _, err = run(capsys, *args, "--out", tmp_path / "p1")
    assert code == 0, err
    args[args.index("--encoder") + 1] = str(tmp_path / "p1")
    code, _, err = run(capsys, *args, "--seed", 1, "--out", tmp_path / "p2")
    assert code == 0, err
    return tmp_path


def state_sha(folder):
    return sha256_tensors(*load_encoder(folder).state_dict().values())


def test_history_lists_the_chain_with_hashes(chain, capsys):
    versions = patch_chain(chain / "p2")
    assert [v.index for v in versions] == [0, 1, 2]
    assert [v.name for v in versions] == [str(chain / n) for n in ("enc", "p1", "p2")]
    assert [v.state_sha256 for v in versions] == [state_sha(chain / n) for n in ("enc", "p1", "p2")]
    assert versions[1].made_by["seed"] == 0 and versions[2].made_by["seed"] == 1
    assert versions[2].made_by["steps"] == 12 and "history" not in versions[2].made_by

    write_json_atomic(chain / "p2" / "metrics.json", {"cp": True, "acc": 81.5, "asr": 2.0})
    code, out, err = run(capsys, "history", chain / "p2", "--json", chain / "h.json")
    assert code == 0, err
    assert out.splitlines()[0].startswith("h    ") and "h'2  " in out
    assert state_sha(chain / "p1")[:12] in out and "metrics: CP yes  Acc 81.50  ASR 2.00" in out
    record = json.loads((chain / "h.json").read_text())
    assert len(record) == 3 and record[2]["records"]["metrics"]["acc"] == 81.5


def test_history_of_an_unpatched_encoder_is_one_version(chain):
    (only,) = patch_chain(chain / "enc")
    assert only.index == 0 and only.state_sha256 == state_sha(chain / "enc")


def test_diff_reports_layers_and_drift(chain, capsys):
    code, out, err = run(
        capsys, "diff", chain / "enc", chain / "p1", "--data", chain / "digits.npz",
        "--size", 50, "--json", chain / "d.json",
    )  # fmt: skip
    assert code == 0, err
    record = json.loads((chain / "d.json").read_text())
    trained = {name for name, _ in load_encoder(chain / "enc").named_parameters()}
    change = {r["name"]: r["relative_change"] for r in record["layers"]}
    assert trained <= set(change) and all(change[n] > 0 for n in trained)
    assert all(change[n] == 0 for n in change if "running_" in n)  # BatchNorm stays frozen
    drift = record["feature_drift"]
    assert drift["n"] == 50 and -1 <= drift["min_cosine"] <= drift["mean_cosine"] < 1
    assert "weight tensors changed" in out and "feature drift on 50 inputs" in out


def test_an_encoder_does_not_differ_from_itself(tiny_encoder, random_images):
    assert all(r["relative_change"] == 0 for r in weight_changes(tiny_encoder, tiny_encoder))
    drift = feature_drift(tiny_encoder, tiny_encoder, random_images)
    assert drift["min_cosine"] == pytest.approx(1.0, abs=1e-6)


def test_diff_refuses_two_architectures(tiny_encoder):
    with seeded(0):
        wider = create_encoder("tiny_cnn", width=4, in_channels=1, image_size=8, embed_dim=16)
    with pytest.raises(InputError, match="same architecture"):
        weight_changes(tiny_encoder, wider)


def test_replay_reproduces_the_weights(chain, capsys):
    with torch.random.fork_rng():
        code, out, err = run(capsys, "replay", chain / "p2", "--out", chain / "r2", "--quiet")
    assert code == 0, err
    assert out.strip() == f"weights identical to {chain / 'p2'}"
    assert state_sha(chain / "r2") == state_sha(chain / "p2")
    assert json.loads((chain / "r2" / "mudjack.json").read_text())["provenance"]["replay_of"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--stop", "auto", "--val-size", 300],
        ["--optimizer", "sgd", "--schedule", "cosine", "--warmup", 2],
    ],
)
def test_replay_rebuilds_recorded_options(patch_args, tmp_path, capsys, flags):
    # a stopping rule is recorded as its repr; replay parses it (never evaluates it)
    code, _, err = run(capsys, *patch_args, *flags, "--out", tmp_path / "p")
    assert code == 0, err
    code, out, err = run(capsys, "replay", tmp_path / "p", "--out", tmp_path / "r", "--quiet")
    assert code == 0, err
    assert out.strip() == f"weights identical to {tmp_path / 'p'}"


def test_a_stopping_rule_record_is_parsed_not_evaluated():
    from mudjack.patching.stopping import StopRule

    rule = StopRule(every=5, tol=0.01)
    assert StopRule.from_record(repr(rule)).get_params() == rule.get_params()
    for bad in ("__import__('os').system('true')", "StopRule(every=len('ab'))", "Other()"):
        with pytest.raises(InputError, match="StopRule"):
            StopRule.from_record(bad)


def test_replay_refuses_a_changed_parent_or_an_unpatched_folder(chain, capsys):
    code, _, err = run(capsys, "replay", chain / "p2", "--parent", chain / "enc", "--out",
                       chain / "r")  # fmt: skip
    assert code == 2 and "Expected the parent the patch recorded" in err and "--parent" in err
    code, _, err = run(capsys, "replay", chain / "enc", "--out", chain / "r")
    assert code == 2 and "records no patch" in err
    assert not (chain / "r").exists()
