"""Faces with dlib (chapter 02): detection and the 68 landmarks (:mod:`.detection`), eye-based
alignment (:mod:`.alignment`), face-part masks (:mod:`.regions`), and the FACS model of how action
units move landmarks (:mod:`.facs`). Imports :mod:`personality_utils.core` only.
"""
