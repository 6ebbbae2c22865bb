"""One arm (row) on one bug instance: patch with its method, measure with the setting's client.

Hyperparameters: Mudjacking runs with the setting's schedule. Every encoder-side baseline gets
the same schedule (epochs, batch size, learning rate, step cap: the paper's "same parameter
setting as Mudjacking"; Fine-Pruning's fine-tuning gets the same step cap); the client-side
ones the paper's 50 epochs at learning rate 0.001. Nothing is tuned per method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from mudjack.bug import BugInstance, select_normal_bug, synthesize_reference
from mudjack.experiments.cache import RunCache
from mudjack.experiments.prepared import Draw, Prepared, image_list, mask_rows, pair_cosine
from mudjack.experiments.settings import Setting
from mudjack.experiments.spec import Arm
from mudjack.patching import create_patcher
from mudjack.reverse import InversionReverser, TriggerReverser
from mudjack.triggers import PatchTrigger, PerturbationTrigger
from mudjack.utils import make_generator, take

SCHEDULE = ("epochs", "batch_size", "lr", "max_steps")


@dataclass
class ArmRun:
    """Where one arm runs: the prepared setting and bug instance, and how.

    ``encoder``: patch this one instead of the backdoored encoder (a chain of patches; such
    arms share nothing). ``reuse``: take the arm's results from ``cache`` if an arm that
    computes the same was measured before (a chain's first arm stores, but does not reuse,
    since the next link needs the client it was measured with)."""

    prep: Prepared
    draw: Draw
    cache: RunCache
    experiment: str
    quick: bool = False
    device: Any = "cpu"
    progress: bool = False
    encoder: Any = None
    reuse: bool = True


def encoder_patcher_kwargs(setting: Setting, arm: Arm, quick: bool = False) -> dict[str, Any]:
    """The patcher's arguments: the setting's schedule under the arm's own parameters."""
    if arm.method == "mudjacking":
        kwargs = {**setting.patch, **arm.params}
    else:
        schedule = {k: setting.patch[k] for k in SCHEDULE if k in setting.patch}
        if arm.method == "fine-pruning":
            schedule.pop("epochs", None)  # its own (the paper's 50 epochs), under the same cap
        kwargs = {**schedule, **arm.params}
    if quick:  # an arm's own step count never exceeds the smoke-test cap
        kwargs["max_steps"] = min(kwargs.get("max_steps") or 10**9, setting.patch["max_steps"])
    return kwargs


def client_patcher_kwargs(arm: Arm, quick: bool) -> dict[str, Any]:
    """A client-side patcher's arguments (a couple of epochs at smoke-test sizes)."""
    if quick and arm.method != "ai-lancet":
        return {"epochs": 2, **arm.params}
    return dict(arm.params)


def classifier_overrides(arm: Arm, quick: bool) -> dict[str, Any] | None:
    """The client classifier hyperparameters the arm changes, if any."""
    if not arm.classifier:
        return None
    if quick and "epochs" in arm.classifier:  # smoke-test sizes: a fraction of the epochs
        return {**arm.classifier, "epochs": max(1, arm.classifier["epochs"] // 10)}
    return dict(arm.classifier)


def run_arm(arm: Arm, where: ArmRun) -> tuple[dict[str, Any], Any]:
    """Patch with one arm and measure; return the results and the patched encoder (None for a
    client-side arm)."""
    out: dict[str, Any] = {}
    encoder = where.encoder if where.encoder is not None else where.prep.backdoored
    bug = _arm_bug(arm, where, encoder, out)
    trigger, reverse = _arm_trigger(arm, where, bug, encoder, out)
    if arm.kind == "client":
        return _run_client_arm(arm, where, bug, trigger, out), None
    return _run_encoder_arm(arm, where, bug, trigger, reverse, encoder, out)


def _arm_bug(arm: Arm, where: ArmRun, encoder: Any, out: dict[str, Any]) -> Any:
    """The bug instance the arm patches: the draw's, a normal bug, or the draw's x_b with a
    synthesised reference input."""
    bug, seed = where.draw.bug, where.draw.seed
    if arm.bug == "normal":
        return select_normal_bug(where.prep.client, seed=seed)
    if arm.bug == "synthetic-reference":
        x_r = synthesize_reference(encoder, bug.x_r, seed=seed)
        with torch.no_grad():
            f = encoder.eval().embed(torch.stack([x_r, bug.x_r]))
        out["reference_cosine"] = float(f[0] @ f[1])
        out["reference_images"] = {"real": image_list(bug.x_r), "synthesised": image_list(x_r)}
        return BugInstance(bug.x_b, x_r, bug.label, {**bug.metadata, "x_r": "synthesised"})
    return bug


def _arm_trigger(
    arm: Arm, where: ArmRun, bug: Any, encoder: Any, out: dict[str, Any]
) -> tuple[Any, str | None]:
    """The trigger the arm patches with, and the reverse-engineering method when it differs
    from the setting's (None: the draw's trigger stands)."""
    prep, draw = where.prep, where.draw
    setting = prep.setting
    trigger = {"reversed": draw.reverse.trigger, "exact": prep.true_trigger, "none": None}[
        arm.trigger
    ]
    reverse = None if arm.reverse in (None, setting.method) else arm.reverse
    rev = None
    if reverse is not None or bug is not draw.bug:
        rev = _reverse(arm, where, bug, encoder, reverse or setting.method)
        trigger = rev.trigger if arm.trigger == "reversed" else trigger
        out["reverse"] = prep.score_reverse(rev, bug)
    elif arm.reverse is not None:  # the setting's own method: the draw's trigger is the one
        rev = draw.reverse
        out["reverse"] = dict(draw.reverse_row)
    if rev is not None and (mask := mask_rows(rev.trigger)) is not None:
        out["reverse"]["mask"] = mask
    if rev is not None and isinstance(prep.true_trigger, PerturbationTrigger):
        out["reverse"]["image"] = trigger_image(rev.trigger)  # Figure 5
    if reverse == "inversion" and arm.reverse_params:
        reverse = f"inversion{sorted(arm.reverse_params.items())}"  # part of the patch's key
    return trigger, reverse


def _reverse(arm: Arm, where: ArmRun, bug: Any, encoder: Any, method: str) -> Any:
    """Reverse-engineer ``bug``'s trigger on ``encoder`` with ``method``: an attribution
    method, or trigger inversion over the draw's D_val (the provider's clean images)."""
    setting, seed, dev = where.prep.setting, where.draw.seed, where.device
    if method == "inversion":
        inverter = InversionReverser(**arm.reverse_params)
        return inverter.reverse(encoder, bug, data=where.draw.val, seed=seed, device=dev)
    reverser = TriggerReverser(method=method, window=setting.window, occlude=setting.occlude)
    return reverser.reverse(encoder, bug, seed=seed, device=dev)


def trigger_image(trigger: Any) -> list[list[float]] | None:
    """What an image trigger adds, first channel, rounded (a patch's pattern under its mask,
    a perturbation's δ): for figures."""
    if isinstance(trigger, PerturbationTrigger):
        return image_list(trigger.delta)
    if isinstance(trigger, PatchTrigger):
        return image_list(trigger.pattern * trigger.mask)
    return None


def _run_client_arm(
    arm: Arm, where: ArmRun, bug: Any, trigger: Any, out: dict[str, Any]
) -> dict[str, Any]:
    from mudjack.downstream import create_client_patcher

    client = where.prep.client
    cp = create_client_patcher(arm.method, **client_patcher_kwargs(arm, where.quick))
    res = cp.patch(client, bug, trigger, seed=where.draw.seed, progress=where.progress)
    after = client.metrics(bug.x_b, bug.label, classifier=res.classifier)
    return {
        **out,
        "after": after.to_dict(),
        "seconds": {"patch": res.seconds},
        "params": res.params,
        "info": res.info,
    }


def _arm_val(arm: Arm, where: ArmRun) -> tuple[Any, str | None]:
    """D_val for the arm, and the pool it was drawn from when that is not the draw's."""
    setting, val, seed = where.prep.setting, where.draw.val, where.draw.seed
    val_data = arm.val_data
    if val_data == setting.val_data and (arm.val_size or setting.val_size) <= len(val):
        val_data = None  # the same random sample as the draw's D_val (or its first val_size)
    if val_data is not None:  # drawn like the draw's D_val
        pool = where.cache.pool(val_data)
        size = min(arm.val_size or setting.val_size, len(pool))
        return take(
            pool.inputs, torch.randperm(len(pool), generator=make_generator(seed))[:size]
        ), val_data
    if arm.val_size is not None and arm.val_size < len(val):  # the draw's first val_size
        return take(val, torch.arange(arm.val_size)), None
    return val, None


def _run_encoder_arm(
    arm: Arm,
    where: ArmRun,
    bug: Any,
    trigger: Any,
    reverse: str | None,
    encoder: Any,
    out: dict[str, Any],
) -> tuple[dict[str, Any], Any]:
    prep, seed, cache = where.prep, where.draw.seed, where.cache
    val, val_data = _arm_val(arm, where)
    patcher = create_patcher(arm.method, **encoder_patcher_kwargs(prep.setting, arm, where.quick))
    clf = classifier_overrides(arm, where.quick)
    patch_key = (
        id(prep), seed, arm.bug, arm.bug_trigger, arm.trigger, reverse, val_data, len(val),
        arm.method,
        repr(sorted(patcher.provenance().items())),
    )  # fmt: skip
    arm_key = (*patch_key, repr(clf))
    chained = where.encoder is not None
    if chained:
        patch_key = arm_key = None
    elif where.reuse and (done := cache.arm(arm_key)) is not None:
        results, patched = done.value
        return {
            **results,
            **out,  # this arm's own account of the trigger
            "seconds": {"patch": 0.0, "measure": 0.0},
            "patch_shared": True,
            "reused_from": {"experiment": done.experiment, "seconds": results["seconds"]},
        }, patched
    shared = cache.patch(patch_key) if patch_key is not None else None
    if shared is not None:
        result = shared.value
    else:
        result = patcher.patch(
            encoder, bug, val, trigger, seed=seed, device=where.device, progress=where.progress
        )
        if patch_key is not None:
            cache.store_patch(patch_key, result, where.experiment)
    t = time.perf_counter()
    after, diagnostics = prep.measure(result.encoder, bug, seed=seed, classifier=clf)
    if chained:  # also the bug's own encoder before this patch
        diagnostics["cos_b_r_before_this_patch"] = pair_cosine(encoder, bug)
    results = {
        **out,
        "after": after.to_dict(),
        "diagnostics": diagnostics,
        "steps": result.steps,
        "val_size": len(val),
        **_sharing(result, shared, where.experiment, time.perf_counter() - t),
        "params": {k: v for k, v in result.params.items() if k != "pruned"},
        "last_log": result.history[-1] if result.history else None,
    }
    if arm_key is not None:  # (a chain's first arm re-measures; the first stored stays)
        cache.store_arm(arm_key, results, result.encoder, where.experiment)
    return results, result.encoder


def _sharing(result: Any, shared: Any, experiment: str, measure: float) -> dict[str, Any]:
    """An encoder arm's time, and whether its patch was computed by an earlier arm."""
    return {
        "seconds": {
            "patch": 0.0 if shared is not None else result.seconds,
            "measure": measure,
        },
        "patch_shared": shared is not None,
        **(
            {"reused_from": {"experiment": shared.experiment}}
            if shared is not None and shared.experiment != experiment
            else {}
        ),
    }
