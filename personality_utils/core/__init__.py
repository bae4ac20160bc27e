"""The study's vocabulary and plumbing, which every other sub-package may import and which imports
none of them: traits, splits and errors (:mod:`.vocabulary`), atomic files and locks
(:mod:`.files`),
profiles (:mod:`.profiles`), the paper's own figures (:mod:`.paper`), the planted-signal design
(:mod:`.planted`), images as the book shows them (:mod:`.images`), results files (:mod:`.results`),
statistics (:mod:`.stats`) and the four-valued verdicts (:mod:`.verdicts`).
"""
