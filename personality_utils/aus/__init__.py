"""Chapter 07, action units: reading OpenFace (:mod:`.openface`), the landmark estimator
(:mod:`.estimator`) and how far it can be trusted (:mod:`.instrument`, :mod:`.glasses`), AU-unit
links (:mod:`.links`) and Table 2 (:mod:`.table2`), the AU-only trait model (:mod:`.traits`) and the
chapter's study (:mod:`.study`).
"""
