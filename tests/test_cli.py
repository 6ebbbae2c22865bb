"""The command line on a tiny encoder and a small .npz data set."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from mudjack.attacks import attack_source, ground_truth
from mudjack.cli import COMMANDS, main
from mudjack.encoders import create_encoder, load_encoder, read_config, save_encoder
from mudjack.experiments import get_setting


@pytest.fixture
def workspace(tmp_path, digits):
    x = (digits.images[:, 0] * 255).round().to(torch.uint8).numpy()
    np.savez(tmp_path / "digits.npz", x=x, y=digits.labels.numpy())
    torch.manual_seed(0)
    enc = create_encoder("tiny_cnn", width=8, in_channels=1, image_size=8, embed_dim=16)
    save_encoder(enc, tmp_path / "clean")
    return tmp_path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_provider_workflow(workspace, capsys):
    w = workspace
    data = w / "digits.npz"
    code, out, err = run(
        capsys,
        "attack",
        "badencoder",
        "--encoder",
        w / "clean",
        "--shadow",
        data,
        "--shadow-size",
        800,
        "--downstream",
        data,
        "--target",
        0,
        "--trigger-size",
        2,
        "--trigger-margin",
        0,
        "--epochs",
        10,
        "--batch-size",
        128,
        "--out",
        w / "bad",
        "--quiet",
    )
    assert code == 0, err
    assert "target class 0" in out
    clf = ["--clf-epochs", 20, "--clf-batch-size", 64]
    code, out, err = run(
        capsys,
        "bug",
        "draw",
        "--encoder",
        w / "bad",
        "--data",
        data,
        "--out",
        w / "bug",
        "--quiet",
        *clf,
    )
    assert code == 0, err
    assert (w / "bug" / "x_b.png").is_file() and (w / "bug" / "bug.json").is_file()
    code, out, err = run(
        capsys,
        "reverse",
        "--encoder",
        w / "bad",
        "--bug",
        w / "bug",
        "--window",
        2,
        "--out",
        w / "t.safetensors",
        "--heatmap",
        w / "fig",
    )
    assert code == 0, err
    assert (w / "t.safetensors").is_file() and (w / "fig" / "heatmap.png").is_file()
    code, out, err = run(
        capsys,
        "patch",
        "--encoder",
        w / "bad",
        "--bug",
        w / "bug",
        "--val",
        data,
        "--val-size",
        300,
        "--trigger",
        w / "t.safetensors",
        "--epochs",
        1,
        "--batch-size",
        64,
        "--out",
        w / "patched",
        "--quiet",
    )
    assert code == 0, err
    cfg = json.loads((w / "patched" / "mudjack.json").read_text())
    prov = cfg["provenance"]
    assert prov["steps"] == 5 and prov["seed"] == 0 and prov["validation"]["size"] == 300
    assert len(prov["bug_sha256"]) == 64 and prov["patcher"]["lambda_l"] == 1.0
    assert len(prov["history"]) == 1 and prov["history"][0]["attack"]["epochs"] == 10
    assert cfg["metadata"]["ground_truth"]["target"] == 0
    assert (w / "patched" / "trigger.safetensors").is_file()
    load_encoder(w / "patched")
    # the patch's own (reverse-engineered) trigger is not the attack's: the ground truth of the
    # patched encoder is still the parent's recorded square
    truth, target = ground_truth(w / "patched")
    assert (truth.mask == ground_truth(w / "bad")[0].mask).all() and target == 0
    code, out, err = run(
        capsys,
        "evaluate",
        "--encoder",
        w / "patched",
        "--data",
        data,
        "--bug",
        w / "bug",
        "--json",
        w / "m.json",
        "--quiet",
        *clf,
    )
    assert code == 0, err
    m = json.loads((w / "m.json").read_text())
    assert {"cp", "acc", "asr", "accb"} <= set(m) and isinstance(m["cp"], bool)
    assert out.startswith("CP ")


def test_patch_refuses_an_existing_output(workspace, capsys):
    (workspace / "out").mkdir()
    code, _, err = run(
        capsys,
        "patch",
        "--encoder",
        workspace / "clean",
        "--bug",
        workspace / "nobug",
        "--out",
        workspace / "out",
    )
    assert code == 2
    assert "already exists. mudjack never overwrites files" in err
    assert list((workspace / "out").iterdir()) == []


def test_missing_model_folder(workspace, capsys):
    code, _, err = run(
        capsys,
        "reverse",
        "--encoder",
        workspace / "nope",
        "--bug",
        workspace / "bug",
        "--out",
        workspace / "t.safetensors",
    )
    assert code == 2 and "is not a folder" in err


def test_unknown_method(workspace, capsys):
    torch.manual_seed(0)
    from mudjack.bug import BugInstance

    BugInstance(torch.rand(1, 8, 8), torch.rand(1, 8, 8)).save(workspace / "bug")
    code, _, err = run(
        capsys,
        "reverse",
        "--encoder",
        workspace / "clean",
        "--bug",
        workspace / "bug",
        "--method",
        "lime",
        "--out",
        workspace / "t.st",
    )
    assert code == 2 and "Unknown reverse-engineering method 'lime'" in err


def test_inversion_reverses_and_patches(workspace, capsys):
    """--method inversion: `reverse` writes a bounded perturbation trigger (and figures), and
    `patch` reverses one over its own D_val and records how."""
    from mudjack.bug import BugInstance
    from mudjack.triggers import load_trigger

    torch.manual_seed(0)
    w, data = workspace, workspace / "digits.npz"
    BugInstance(torch.rand(1, 8, 8), torch.rand(1, 8, 8)).save(w / "bug")
    inv = ["--method", "inversion", "--epsilon", 0.05, "--inversion-steps", 3, "--val", data]
    code, out, err = run(
        capsys, "reverse", "--encoder", w / "clean", "--bug", w / "bug", *inv,
        "--val-size", 50, "--out", w / "t.safetensors", "--heatmap", w / "fig",
    )  # fmt: skip
    assert code == 0, err
    trigger = load_trigger(w / "t.safetensors")
    assert trigger.kind == "perturbation" and "inversion" in out
    assert 0 < float(trigger.delta.abs().max()) <= 0.05 + 1e-6
    assert (w / "fig" / "mask.png").is_file()
    code, _, err = run(
        capsys, "patch", "--encoder", w / "clean", "--bug", w / "bug", *inv,
        "--val-size", 100, "--epochs", 1, "--batch-size", 64, "--out", w / "patched", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    prov = json.loads((w / "patched" / "mudjack.json").read_text())["provenance"]
    assert prov["trigger"] == "reverse-engineered (inversion: perturbation, epsilon 0.05, 3 steps)"


def _reverse_with_epsilon(capsys, w, epsilon):
    from mudjack.bug import BugInstance

    if not (w / "bug").exists():
        BugInstance(torch.rand(1, 8, 8), torch.rand(1, 8, 8)).save(w / "bug")
    return run(
        capsys, "reverse", "--encoder", w / "clean", "--bug", w / "bug", "--method", "inversion",
        "--epsilon", epsilon, "--val", w / "digits.npz", "--out", w / "t.safetensors",
    )  # fmt: skip


def test_inversion_refuses_a_bad_epsilon(workspace, capsys):
    with pytest.raises(SystemExit) as exc:  # argparse: usage line and code 2
        _reverse_with_epsilon(capsys, workspace, 0)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Expected a finite number > 0, got '0'" in err
    code, _, err = _reverse_with_epsilon(capsys, workspace, 1.5)
    assert code == 2 and "Expected epsilon in (0, 1] (pixel units), got 1.5" in err
    assert not (workspace / "t.safetensors").exists()


def test_unknown_setting(capsys):
    code, _, err = run(capsys, "demo", "--setting", "cifar")
    assert code == 2 and "Unknown setting 'cifar'. Expected one of: default, mnist5k" in err


def test_encoder_without_ground_truth_needs_trigger(workspace, capsys):
    code, _, err = run(
        capsys, "evaluate", "--encoder", workspace / "clean", "--data", workspace / "digits.npz"
    )
    assert code == 2 and "Use --trigger FILE and --target N" in err


def test_zoo_list(capsys):
    code, out, _ = run(capsys, "zoo", "list")
    assert code == 0 and "fmnist-badencoder-r18w16" in out


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    listed = re.findall(r"^    ([a-z]+)\b", out, flags=re.M)
    assert listed == list(COMMANDS)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_has_help_seed_device_and_quiet(capsys, command):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0 and out.startswith(f"usage: mudjack {command} ")
    for option in ("--seed SEED", "--device DEVICE", "--quiet"):
        assert re.search(rf"^  {option}\b", out, flags=re.M), f"{command}: no {option}"


def test_paper_defaults_come_from_the_settings(capsys):
    img, txt = get_setting("default").paper(), get_setting("text-por").paper()
    with pytest.raises(SystemExit):
        main(["patch", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert f"(default: {img.val_size:,} images, {txt.val_size:,} text)" in out
    bs = f"(default: {img.patch['batch_size']} images, {txt.patch['batch_size']} text)"
    assert bs in out
    assert f"images {img.val_data} (default)" in out and f"text {txt.val_data} (default)" in out


def test_patch_uses_the_paper_values_unless_given():
    from mudjack.cli import build_parser
    from mudjack.cli.patch import _patcher

    argv = ["patch", "--encoder", "e", "--bug", "b", "--out", "o", "--batch-size", "8"]
    a = build_parser().parse_args(argv)
    for modality, name in (("image", "default"), ("text", "text-por")):
        p = _patcher(a, modality)
        paper = get_setting(name).paper().patch
        assert (p.lr, p.epochs, p.max_steps) == (paper["lr"], paper["epochs"], None)
        assert p.batch_size == 8 and p.lambda_l == paper["lambda_l"]


def test_python_dash_m(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mudjack.cli", "zoo", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: mudjack zoo ")


@pytest.mark.parametrize(
    ("trigger", "extra", "kind"),
    [
        ("checkerboard", ["--random-location"], "pattern"),
        ("latent", [], "perturbation"),
        ("dynamic", [], "dynamic"),
        ("FILE.png", [], "file"),
    ],
)
def test_attack_records_any_trigger_as_its_ground_truth(workspace, capsys, trigger, extra, kind):
    """`attack badencoder --trigger NAME|FILE`: the encoder's recorded truth is the trigger."""
    from PIL import Image

    from mudjack.triggers import DynamicTrigger, PatchTrigger, PerturbationTrigger

    w = workspace
    if trigger == "FILE.png":
        rgba = np.zeros((2, 2, 4), dtype=np.uint8)
        rgba[..., 0], rgba[0, :, 3] = 255, 255  # a red top row; the bottom row transparent
        Image.fromarray(rgba, "RGBA").save(w / "t.png")
        trigger = w / "t.png"
    code, _out, err = run(
        capsys, "attack", "badencoder", "--encoder", w / "clean", "--shadow", w / "digits.npz",
        "--shadow-size", 256, "--downstream", w / "digits.npz", "--trigger", trigger,
        "--trigger-size", 2, "--trigger-margin", 0, "--epochs", 1, "--batch-size", 128,
        "--out", w / "bad", "--quiet", *extra,
    )  # fmt: skip
    assert code == 0, err
    truth = read_config(w / "bad")["metadata"]["ground_truth"]
    assert truth["trigger"]["kind"] == kind and truth["target"] == 0
    recorded, target = ground_truth(w / "bad")
    assert target == 0
    classes = {"perturbation": PerturbationTrigger, "dynamic": DynamicTrigger}
    assert isinstance(recorded, classes.get(kind, PatchTrigger))
    if kind == "pattern":
        assert recorded.random_location and recorded.pixels == 4
    if kind == "file":
        assert recorded.pixels == 2 and (w / "bad" / "attack-trigger.safetensors").is_file()


def test_attack_source_specific_needs_a_source(workspace, capsys):
    w = workspace
    base = [
        "attack", "badencoder-source", "--encoder", w / "clean", "--downstream", w / "digits.npz",
        "--trigger-size", 2, "--epochs", 1, "--batch-size", 128, "--quiet",
    ]  # fmt: skip
    code, _out, err = run(capsys, *base, "--out", w / "a")
    assert code == 2 and "Expected --source CLASS (other than the target 0)" in err
    with pytest.raises(SystemExit) as exc:
        run(capsys, *base, "--source", 3, "--alpha1", 1.5, "--out", w / "a")
    assert exc.value.code == 2
    assert "Expected a number in [0, 1], got '1.5'" in capsys.readouterr().err
    code, _out, err = run(capsys, *base, "--source", 3, "--out", w / "b")
    assert code == 0, err
    assert attack_source(w / "b") == 3
    code, out, err = run(
        capsys, "evaluate", "--encoder", w / "b", "--data", w / "digits.npz", "--clf-epochs", 2,
        "--json", w / "m.json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert re.search(r"ASR-source \d+\.\d\d  ASR-other \d+\.\d\d", out)
    assert {"asr_source", "asr_other"} <= set(json.loads((w / "m.json").read_text()))
