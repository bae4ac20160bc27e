"""Every figure of the book, in plotly: shared plots (:mod:`.plots`) and the panels of chapters 02
and 06 (:mod:`.face_panels`, :mod:`.unit_panels`, :mod:`.unit_images`).
"""
