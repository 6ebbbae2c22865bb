"""The paper's reported numbers, kept as data beside the experiments that reproduce them.

Liu, Reiter, Gong, "Mudjacking: Patching Backdoor Vulnerabilities in Foundation Models",
USENIX Security 2024. Each entry names its table; rows are ``(label, cp, acc, asr, accb)``
with CP as the paper prints it (True for ✓, False for ×, None for "-") and the accuracies in
percent. The paper reports one bug instance per row, without a spread.
"""

from __future__ import annotations

from typing import Any

Row = tuple[str, bool | None, float, float | None, float | None]

_MUDJACKING: Row = ("Mudjacking", True, 76.59, 2.39, 73.38)
_BEFORE: Row = ("Before patching", False, 76.46, 99.82, 0.10)

PAPER: dict[str, dict[str, Any]] = {
    "table1": {
        "ref": "Table 1a (BadEncoder, single-modal vision, pre-training CIFAR10)",
        "rows": [
            ("STL10 before", False, 76.46, 99.82, 0.10),
            ("STL10 after", True, 76.59, 2.39, 73.38),
            ("SVHN before", False, 69.07, 98.92, 0.53),
            ("SVHN after", True, 78.49, 5.97, 65.39),
        ],
    },
    "table2": {
        "ref": "Table 2 (language, BERT-base pre-trained on Wiki-103)",
        "rows": [
            ("POR SST-2 before", False, 82.59, 67.66, 12.34),
            ("POR SST-2 after", True, 81.82, 17.49, 82.51),
            ("NeuBA SST-2 before", False, 80.28, 100.00, 0.00),
            ("NeuBA SST-2 after", True, 79.68, 24.34, 75.65),
            ("POR HSOL before", False, 82.90, 99.92, 0.08),
            ("POR HSOL after", True, 82.78, 17.07, 82.93),
            ("NeuBA HSOL before", False, 80.16, 100.00, 0.00),
            ("NeuBA HSOL after", True, 81.28, 18.28, 81.72),
        ],
    },
    "table3": {
        "ref": "Table 3 (encoder-side patching methods, CIFAR10 -> STL10)",
        "rows": [
            _BEFORE,
            ("FT", True, 69.61, 40.57, 32.50),
            ("FT+l2", True, 72.05, 55.90, 24.31),
            ("FT+linf", True, 70.04, 41.79, 30.61),
            ("Unlearning", True, 70.02, 34.57, 32.12),
            ("Fine-Pruning", False, 71.92, 6.65, 61.97),
            _MUDJACKING,
        ],
    },
    "table4": {
        "ref": "Table 4 (interpretation methods)",
        "rows": [
            ("Occlusion", True, 76.59, 2.39, 73.38),
            ("GradCam", True, 76.47, 3.42, 71.44),
            ("Saliency Map", True, 76.58, 11.88, 61.72),
            ("GuidedBack", True, 76.29, 13.56, 61.67),
        ],
    },
    "table5": {
        "ref": "Table 5 (removing one loss term)",
        "rows": [
            ("None", True, 76.59, 2.39, 73.38),
            ("Effectiveness loss", False, 76.70, 2.65, 72.97),
            ("Locality loss", True, 48.50, 7.10, 45.61),
            ("Generalizability loss", True, 76.70, 26.49, 50.57),
        ],
    },
    "table6": {
        "ref": "Table 6 (validation set distribution; pre-training on CIFAR10)",
        "rows": [
            ("CIFAR10", True, 76.59, 2.39, 73.38),
            ("STL10", True, 76.60, 2.71, 72.82),
            ("ImageNet", True, 75.88, 2.44, 72.24),
        ],
    },
    "table7": {
        "ref": "Table 7 (patching multiple bugs)",
        "rows": [
            ("h", False, 76.46, 99.82, 0.10),
            ("h'1", True, 76.51, 3.43, 71.43),
            ("h'2", True, 75.31, 2.25, 71.93),
            ("h'3", True, 74.88, 2.00, 71.10),
        ],
    },
    "table8": {
        "ref": "Table 8 (normal vs. backdoor bug)",
        "rows": [
            ("Backdoor bug", True, 76.59, 2.39, 73.38),
            ("Normal bug", True, 76.29, None, None),
        ],
    },
    "table9": {
        "ref": "Table 9 (real vs. random reference input)",
        "rows": [
            ("Real", True, 76.59, 2.39, 73.38),
            ("Random", True, 76.66, 2.60, 72.11),
        ],
    },
    "table19": {
        "ref": "Table 19 (patch and client learning rate, batch size, epochs)",
        "rows": [
            ("patch lr 5e-3", True, 76.36, 4.15, 71.11),
            ("patch lr 1e-3", True, 76.59, 2.39, 73.38),
            ("patch lr 5e-4", True, 76.06, 2.69, 72.25),
            ("patch batch 128", True, 76.73, 3.21, 73.66),
            ("patch batch 256", True, 76.59, 2.39, 73.38),
            ("patch batch 512", True, 76.04, 3.72, 72.44),
            ("patch 50 epochs", True, 76.89, 3.46, 71.29),
            ("patch 100 epochs", True, 76.91, 2.78, 71.71),
            ("patch 200 epochs", True, 76.59, 2.39, 73.38),
            ("client lr 1e-3", True, 76.71, 2.56, 72.31),
            ("client lr 1e-4", True, 76.59, 2.39, 73.38),
            ("client lr 5e-5", True, 77.04, 2.71, 72.88),
            ("client batch 32", True, 77.14, 2.43, 73.14),
            ("client batch 64", True, 76.59, 2.39, 73.38),
            ("client batch 128", True, 76.56, 2.40, 72.56),
            ("client 100 epochs", True, 77.44, 2.49, 73.40),
            ("client 300 epochs", True, 76.94, 2.49, 72.72),
            ("client 500 epochs", True, 76.59, 2.39, 73.38),
        ],
    },
    "table10": {
        "ref": "Table 10 (patching the downstream classifier alone)",
        "rows": [
            _BEFORE,
            ("FT", True, 34.86, 0.00, 11.11),
            ("FT with D_train", True, 76.54, 0.44, 11.14),
            ("AI-Lancet", True, 74.54, 0.82, 11.31),
            ("BEAGLE + reversed trigger", True, 76.34, 5.22, 54.33),
            ("BEAGLE + exact trigger", True, 76.31, 3.47, 58.91),
            _MUDJACKING,
        ],
    },
}


def paper_rows(name: str) -> dict[str, Row]:
    """The paper's rows of experiment ``name`` by label (empty when the paper has none)."""
    return {r[0]: r for r in PAPER.get(name, {}).get("rows", [])}
