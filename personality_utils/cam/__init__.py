"""Chapter 05, where the model looks: class activation maps and their overlap with the face
(:mod:`.maps`) drawn over images (:mod:`.overlay`), the face parts they fall on (:mod:`.parts`),
their sanity checks (:mod:`.checks`),
the causal tests by occlusion (:mod:`.causal`), and the chapter's study object (:mod:`.study`).
"""
