"""The networks and how they are trained (chapters 03 and 04): DAN+ and the CAM model
(:mod:`.networks`), the training loop (:mod:`.training`), the identity pretraining that stands in
for VGG-Face (:mod:`.pretraining`), several processes (:mod:`.distributed`), and one experiment end
to end with its scores and intervals (:mod:`.experiments`).
"""
