"""Chapter 06, what conv5_3's units became: their activation statistics in one streaming pass
(:mod:`.activations`), face-part semantics (:mod:`.semantics`), Network Dissection's IoU
(:mod:`.netdissect`), emergence against null networks (:mod:`.emergence`), ablation
(:mod:`.ablation`), the planted cues (:mod:`.ground_truth`) and the chapter's study (:mod:`.study`).
"""
