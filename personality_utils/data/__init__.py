"""The data of chapter 01: the First Impressions release (:mod:`.release`), the authors' frame
sampling (:mod:`.video`), the frame and face stores (:mod:`.stores`), one entry to a dataset
(:mod:`.datasets`), and the planted-signal synthetic set (:mod:`.synthetic`).
"""
