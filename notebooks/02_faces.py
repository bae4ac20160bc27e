# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Faces
#
# **The question.** Can the faces of every sampled frame be found, landmarked and aligned the
# way the authors did, and where on the aligned face do the eyebrows, eyes, nose and mouth lie?
#
# **The paper's claim.** The second half of the paper works on faces: the authors crop every
# sampled frame around the detected face and "use the estimated location of the eyes to align
# and normalize" it to 224x224. The authors took faces and eyes from OpenFace (the paper's [2];
# {cite:p}`baltrusaitis2016openface`),
# whose 1.x face detector is dlib's HOG detector, with its own landmark model. Their Fig. 8
# draws the face-part masks that the CAM and unit chapters score against.
#
# **Method.** This chapter builds the aligned faces with dlib itself (the HOG frontal detector
# and its 68-point landmark model, both offline from pip), measures how well that works, and
# draws the face-part masks of Fig. 8. The pipeline (`personality_utils.faces.detection`) runs once
# per
# clip while the frame store is built, so each video is decoded once:
#
# 1. the HOG detector scans a copy of the frame downscaled to 640 pixels wide; it searches
#    again with one level of upsampling (faces down to half the size) when that coarse pass
#    finds nothing, or a box scoring under 0.5, or a box whose side is under 0.2 or over 0.9
#    of the copy's shorter side (thresholds chosen on the real clips and photos: the 24 real
#    First Impressions clips' sampled frames score 1.78 at the median and 0.50 at the 5th
#    percentile, with faces 0.24-0.6 of the frame; a group photo whose faces sit at the
#    coarse pass's smallest window gets weak boxes too big for them, and only the finer
#    search finds all its faces). Of the faces found, the one with the largest box is kept,
#    ties going to the higher detector score;
# 2. the 68 landmarks are placed on the full-resolution frame;
# 3. one similarity transform (rotation, uniform scale, translation) maps the two eye centres
#    (means of landmarks 36-41 and 42-47) onto fixed positions of a 224x224 crop, the same
#    for every face;
# 4. each frame keeps its record: found or not, detector score, face box and landmarks in the
#    original frame and in the square frame-store coordinates (where chapter 5 measures CAM
#    overlap), and landmarks in the crop. Frames without a face are counted, never replaced.

# %% tags=["parameters"]
profile = "default"  # smoke (seconds, tests), default (the book, CPU) or paper (real data, GPU)
data_root = None  # None for the synthetic set (made on first use), or the real dataset's folder
device = "auto"  # unused in this chapter (no model), kept so all notebooks share parameters
seed = 0  # seed of the synthetic set

# %%
import pandas as pd

from personality_utils.book import explorers, session
from personality_utils.data import datasets
from personality_utils.data.synthetic import truth
from personality_utils.faces import alignment, regions
from personality_utils.faces import detection as faces_detection
from personality_utils.figures import face_panels

chapter = session.start("02_faces", profile, data_root, device, seed, models=False)
settings, dataset = chapter.settings, chapter.dataset
stores, face_stores = dataset.stores(), dataset.face_stores()
size, grid = settings.face_size, settings.feature_grid
eyes = alignment.canonical_eyes(size).round(1).tolist()
print(f"aligned crops: {size}x{size}; canonical eye centres {eyes}")
chapter.compare_with_authors()

# %% [markdown]
# ## 2.1 How often is a face found?

# %%
print("\n".join(datasets.splits_without_frames(stores, "the detection table")))
measured = datasets.splits_with_frames(stores, stores)
detection = pd.DataFrame(
    {split: faces_detection.detection_summary(stores[split]) for split in measured}
).T
detection

# %% [markdown]
# `clips_missing_frames` is the share of clips where at least one sampled frame has no
# detected face; the authors' face set lost frames in about 10% of clips. Those frames are
# absent from the face store, and the training chapters say how many they drop.

# %% [markdown]
# ## 2.2 Detections on sample frames
#
# Boxes and landmarks drawn over the square frame-store images (the whole frame squashed to
# the store's size), where the CAM chapter measures how much of a map falls on the face.

# %% tags=["hide-input"]
shown, why = datasets.split_for(stores, "train")
if shown:
    face_panels.detections_grid(stores[shown]).show()
if why:
    print(why)

# %% [markdown]
# ## 2.3 Aligned faces

# %% tags=["hide-input"]
if shown:
    face_panels.aligned_faces(face_stores[shown]).show()

# %% [markdown]
# Any clip, frame by frame, in a live kernel (`make lab`; the static book shows nothing here):

# %% tags=["hide-input"]
explorers.clip_explorer(dataset)

# %% [markdown]
# ## 2.4 Alignment quality
#
# Two numbers per frame. `eye_alignment_error_px` puts dlib's own eye centres through the
# alignment and measures their distance from the canonical positions: it checks the transform
# and should be about zero. On the synthetic set the *true* eye centres can be put through the
# same transform, which measures what matters: how far dlib's landmark errors move the real
# eyes in the crop. `landmark_error_iod` compares all 68 landmarks with the ground truth.

# %%
truth_root = dataset.root if dataset.synthetic else None
quality, true_eye_errors = truth.alignment_quality(stores, size, truth_root)
quality

# %% tags=["hide-input"]
if true_eye_errors:
    face_panels.error_histograms(
        true_eye_errors,
        "Where the true eye centres land after alignment (synthetic ground truth)",
        f"distance from the canonical eye position (px in a {size} crop)",
        "share of frames",
        histnorm="probability",
    ).show()

# %% [markdown]
# ## 2.5 The average face and the face-part masks (Fig. 8)
#
# The average aligned face over training and validation, and the mean of their landmarks.
# The masks of the four parts are drawn from the mean landmarks at pixel resolution, then put
# on the grid of the conv5_3 maps of this profile's model (a 224 input gives the paper's 14x14;
# a cell goes to the part that covers most of it, if it covers at least a quarter). Colours as
# in the paper: mouth purple, nose red, eyes blue, eyebrows orange.

# %%
average_face, mean_landmarks, averaged = regions.average_face(face_stores)
pixel_masks = regions.region_masks(mean_landmarks, size)
grid_masks = regions.region_masks(mean_landmarks, size, grid=grid)
print(f"average of {averaged} aligned faces; grid {grid}x{grid}")

# %% tags=["hide-input"]
face_panels.face_part_masks(average_face, mean_landmarks, pixel_masks, grid_masks).show()

# %%
pd.DataFrame(
    {"cells on the grid": regions.mask_areas(grid_masks), "pixels": regions.mask_areas(pixel_masks)}
)

# %% [markdown]
# The same masks can be drawn for any single frame from its own landmarks, which is what the
# unit chapter's NetDissect-style scores use (faces do not all land on the average).

# %% tags=["hide-input"]
if shown and len(face_stores[shown]):
    face_panels.face_masks_figure(face_stores[shown], len(face_stores[shown]) // 2).show()

# %% [markdown]
# ## What held
#
# dlib finds a face in nearly every sampled frame; the frames it misses are counted and kept
# out of the face store. One similarity transform per frame puts the eyes at fixed positions,
# so the average face is sharp around the eyes and the mouth, and the face-part masks drawn
# from the mean landmarks sit on the right cells of the conv5 grid. On the synthetic set the
# ground truth measures the whole chain: how far dlib's landmarks are from the true ones, and
# how far that moves the real eyes in the aligned crop. The record below keeps the detection
# and alignment figures, and the mean landmarks and grid masks that chapters 5 and 6 use.

# %%
counts = ("detection_rate", "clips_missing_frames", "faces", "frames")
record = {
    **{key: detection[key].to_dict() for key in counts},
    "eye_alignment_error_px": float(quality["eye_alignment_error_px"].mean()),
    "true_eye_alignment_error_px": float(quality["true_eye_alignment_error_px"].mean())
    if dataset.synthetic
    else None,
    "landmark_error_iod": quality["landmark_error_iod"].to_dict() if dataset.synthetic else None,
    "face_size": size,
    "grid": grid,
    "mean_landmarks": mean_landmarks.round(3),
    "grid_masks": {region: grid_masks[region].astype(int) for region in regions.REGIONS},
}
saved = chapter.save(record)
