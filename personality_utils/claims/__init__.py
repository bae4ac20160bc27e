"""The paper's claims and the book's own, judged from the chapters' saved measurements with the
four-valued rules of :mod:`personality_utils.core.verdicts`. Reads records; imports
:mod:`personality_utils.core` only.
"""
