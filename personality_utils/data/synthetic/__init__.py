"""The planted-signal synthetic First Impressions: the label model (:mod:`.labels`), what each
clip shows (:mod:`.recipes`), the renderer (:mod:`.render`), the generator that writes the set
(:mod:`.generator`) and the ground truth it writes beside the clips (:mod:`.truth`).
"""
