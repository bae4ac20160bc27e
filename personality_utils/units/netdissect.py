"""NetDissect's test of the units (chapter 06, Bau et al., 2017): per face part, how many units of
a layer are detectors and the best IoU, for the trained network against a random one of the
same shape, and how the IoU with each face's own masks agrees with N' on the average face.

The IoU itself comes from the streaming pass (:func:`~personality_utils.units.semantics.iou_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from personality_utils.faces.regions import REGIONS
from personality_utils.units.activations import UnitStats
from personality_utils.units.semantics import iou_table


@dataclass
class Dissection:
    """NetDissect's tables for some layers and networks.

    Attributes:
        tables: Per (layer, network) the :func:`~personality_utils.units.semantics.iou_table`.
        detectors: Detectors per part (rows, :data:`~personality_utils.faces.regions.REGIONS`
        order),
            one column per ``"<layer> <network>"``.
        best_iou: The best IoU per part, same layout.
        agreement: Per part, the Spearman correlation over units of IoU with N' / N (the
            first network on the agreement's layer, :func:`dissect`); parts whose N' / N never
            varies are left out.
    """

    tables: dict[tuple[str, str], pd.DataFrame]
    detectors: pd.DataFrame
    best_iou: pd.DataFrame
    agreement: dict[str, float]

    def table(self) -> pd.DataFrame:
        """Detectors and best IoU (3 decimals) side by side."""
        return pd.concat({"detectors": self.detectors, "best IoU": self.best_iou.round(3)}, axis=1)

    def record(self) -> dict:
        """The chapter's results entries: detectors, best IoU and agreement."""
        return {
            "iou_detectors_per_region": self.detectors.to_dict(),
            "iou_best_per_region": self.best_iou.to_dict(),
            "iou_n_prime_spearman": self.agreement,
        }


def iou_agreement(table: pd.DataFrame, shares: pd.DataFrame) -> dict[str, float]:
    """Per part, the Spearman correlation over units of their IoU (one layer's
    :func:`~personality_utils.units.semantics.iou_table`) with their N' / N share
    (:func:`~personality_utils.units.semantics.region_shares`, same units); parts whose share is the
    same for every unit are left out."""
    from scipy.stats import spearmanr

    agreement = {}
    for region in REGIONS:
        values = table[table["region"] == region].set_index("unit")["iou"]
        share = shares[region]
        if share.std() > 0:
            agreement[region] = float(spearmanr(values, share).statistic)
    return agreement


def dissect(
    networks: Mapping[str, UnitStats],
    shares: pd.DataFrame,
    layers: Sequence[str] = ("conv4_3", "conv5_3"),
    layer: str = "conv5_3",
) -> Dissection:
    """NetDissect's detectors and best IoU per part for every layer and network.

    Args:
        networks: Statistics with masks by network name, the trained one first, e.g.
            ``{"trained": ..., "random weights": ...}``.
        shares: The first network's N' / N shares on ``layer``
            (:func:`~personality_utils.units.semantics.region_shares`), for the agreement.
        layers: IoU layers.
        layer: The layer of the agreement (one of ``layers``).
    """
    tables = {
        (name, kind): iou_table(stats, name) for name in layers for kind, stats in networks.items()
    }
    detectors = (
        pd.DataFrame(
            {
                f"{name} {kind}": table[table["detector"]].groupby("region").size()
                for (name, kind), table in tables.items()
            }
        )
        .reindex(list(REGIONS))
        .fillna(0)
        .astype(int)
    )
    best_iou = pd.DataFrame(
        {
            f"{name} {kind}": table.groupby("region")["iou"].max()
            for (name, kind), table in tables.items()
        }
    ).reindex(list(REGIONS))
    agreement = iou_agreement(tables[(layer, next(iter(networks)))], shares)
    return Dissection(tables, detectors, best_iou, agreement)
