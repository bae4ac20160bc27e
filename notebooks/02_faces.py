# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Faces
#
# **Overview.** The second half of the paper works on faces: the authors crop every sampled
# frame around the detected face and "use the estimated location of the eyes to align and
# normalize" it to 224x224. The authors took faces and eyes from OpenFace (the paper's [2]),
# whose 1.x face detector is dlib's HOG detector, with its own landmark model. This chapter
# builds the aligned faces with dlib itself (the HOG frontal detector and its 68-point landmark
# model, both offline from pip), measures how well that works, and draws the face-part masks
# (Fig. 8 of the paper) that the CAM and unit chapters score against.
#
# **The pipeline** (`personality_utils.faces`, run once per clip while the frame store is
# built, so each video is decoded once):
#
# 1. the HOG detector scans a copy of the frame downscaled to 640 pixels wide; only when it
#    finds nothing does it search again with one level of upsampling; the largest face wins;
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
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from personality_utils import data, datasets, faces, images, plots, profiles, results, truth

plots.setup()
settings = profiles.get_profile(profile)
dataset = datasets.prepare_dataset(settings, data_root=data_root, seed=seed, progress=False)
stores = {
    split: dataset.store(split) for split in data.SPLITS if (dataset.store_dir / split).is_dir()
}
face_stores = {split: dataset.faces(split) for split in stores}
print(dataset.description)
print(
    f"aligned crops: {settings.face_size}x{settings.face_size}; canonical eye centres "
    f"{faces.canonical_eyes(settings.face_size).round(1).tolist()}"
)
profiles.compare_with_authors(settings, chapter="02")

# %% [markdown]
# ## 2.1 How often is a face found?

# %%
detection = pd.DataFrame(
    {split: faces.detection_summary(store) for split, store in stores.items()}
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

# %%
store = stores["train"]
found_rows = np.flatnonzero(store.detections["found"])
picks = found_rows[np.linspace(0, len(found_rows) - 1, 6).astype(int)]
figure = make_subplots(rows=2, cols=3, horizontal_spacing=0.01, vertical_spacing=0.04)
for k, row in enumerate(picks):
    position = dict(row=k // 3 + 1, col=k % 3 + 1)
    figure.add_trace(
        go.Image(source=images.image_uri(np.asarray(store.frames[row]), "jpeg")), **position
    )
    points = store.detections["landmarks_store"][row]
    figure.add_trace(
        go.Scatter(
            x=points[:, 0],
            y=points[:, 1],
            mode="markers",
            showlegend=False,
            marker=dict(size=3, color="lime"),
            hoverinfo="skip",
        ),
        **position,
    )
    left, top, right, bottom = store.detections["box_store"][row]
    figure.add_shape(
        type="rect",
        x0=left,
        y0=top,
        x1=right,
        y1=bottom,
        line=dict(color="red", width=2),
        **position,
    )
figure.update_xaxes(visible=False)
figure.update_yaxes(visible=False, autorange="reversed")
figure.update_layout(
    height=520,
    title="dlib face boxes (red) and 68 landmarks (green), frame-store coordinates",
    margin=dict(l=5, r=5, t=40, b=5),
)
figure.show()

# %% [markdown]
# ## 2.3 Aligned faces

# %%
face_store = face_stores["train"]
picks = np.linspace(0, len(face_store) - 1, 15).astype(int)
titles = [
    f"{face_store.meta['clip'].iloc[i][:11]} #{face_store.meta['frame_index'].iloc[i]}"
    for i in picks
]
plots.image_grid(
    [np.asarray(face_store.crops[i]) for i in picks], titles, columns=5, tile_height=170
).update_layout(title="Aligned 224x224 faces (eyes at fixed positions)").show()

# %% [markdown]
# ## 2.4 Alignment quality
#
# Two numbers per frame. `eye_alignment_error_px` puts dlib's own eye centres through the
# alignment and measures their distance from the canonical positions: it checks the transform
# and should be about zero. On the synthetic set the *true* eye centres can be put through the
# same transform, which measures what matters: how far dlib's landmark errors move the real
# eyes in the crop. `landmark_error_iod` compares all 68 landmarks with the ground truth.

# %%
quality_rows = {}
per_frame_true_error = []
for split, store in stores.items():
    found = np.flatnonzero(store.detections["found"])
    detected = store.detections["landmarks_frame"]
    self_error = [
        faces.eye_alignment_error(detected[i], detected[i], settings.face_size) for i in found
    ]
    row = {"eye_alignment_error_px": float(np.mean(self_error)) if len(found) else None}
    if dataset.synthetic:
        agreement = truth.landmark_agreement(dataset.root, store)
        true_error = truth.true_eye_alignment_errors(dataset.root, store, settings.face_size)
        per_frame_true_error += [(split, e) for e in true_error]
        row["true_eye_alignment_error_px"] = float(np.mean(true_error))
        row["landmark_error_iod"] = float(agreement.error_iod.mean())
        row["landmark_error_iod_p90"] = float(agreement.error_iod.quantile(0.9))
    quality_rows[split] = row
quality = pd.DataFrame(quality_rows).T
quality

# %%
if per_frame_true_error:
    table = pd.DataFrame(per_frame_true_error, columns=["split", "error"])
    figure = go.Figure(
        [
            go.Histogram(x=group.error, name=split, opacity=0.6, histnorm="probability", nbinsx=40)
            for split, group in table.groupby("split")
        ]
    )
    figure.update_layout(
        barmode="overlay",
        height=320,
        title="Where the true eye centres land after alignment (synthetic ground truth)",
        xaxis_title=f"distance from the canonical eye position (px in a {settings.face_size} crop)",
        yaxis_title="share of frames",
    )
    figure.show()

# %% [markdown]
# ## 2.5 The average face and the face-part masks (Fig. 8)
#
# The average aligned face over training and validation, and the mean of their landmarks.
# The masks of the four parts are drawn from the mean landmarks at pixel resolution, then put
# on the grid of the conv5_3 maps of this profile's model (a 224 input gives the paper's 14x14;
# a cell goes to the part that covers most of it, if it covers at least a quarter). Colours as
# in the paper: mouth purple, nose red, eyes blue, eyebrows orange.

# %%
pooled_crops = [face_stores[split] for split in ("train", "validation") if split in face_stores]
average_face = faces.mean_face(*(fs.crops for fs in pooled_crops))
mean_landmarks = np.nanmean(np.concatenate([fs.landmarks for fs in pooled_crops]), axis=0)
grid = settings.feature_grid
size = settings.face_size
pixel_masks = faces.region_masks(mean_landmarks, size)
grid_masks = faces.region_masks(mean_landmarks, size, grid=grid)
print(f"average of {sum(len(fs) for fs in pooled_crops)} aligned faces; grid {grid}x{grid}")


# %%
cells = np.arange(0, size + 1, size // grid)
figure = make_subplots(
    rows=1,
    cols=3,
    horizontal_spacing=0.02,
    subplot_titles=[
        "average face + mean landmarks",
        "masks at pixel resolution",
        f"masks on the {grid}x{grid} conv5 grid",
    ],
)
figure.add_trace(go.Image(source=images.image_uri(average_face)), row=1, col=1)
figure.add_trace(
    go.Scatter(
        x=mean_landmarks[:, 0],
        y=mean_landmarks[:, 1],
        mode="markers",
        marker=dict(size=3, color="lime"),
        showlegend=False,
    ),
    row=1,
    col=1,
)
figure.add_trace(
    go.Image(source=images.image_uri(images.masks_over(average_face, pixel_masks))),
    row=1,
    col=2,
)
figure.add_trace(
    go.Image(source=images.image_uri(images.masks_over(average_face, grid_masks))),
    row=1,
    col=3,
)
for position in cells:
    figure.add_shape(
        type="line",
        x0=position,
        x1=position,
        y0=0,
        y1=size,
        line=dict(color="white", width=0.5),
        row=1,
        col=3,
    )
    figure.add_shape(
        type="line",
        y0=position,
        y1=position,
        x0=0,
        x1=size,
        line=dict(color="white", width=0.5),
        row=1,
        col=3,
    )
for region in faces.REGIONS:  # legend entries for the colours
    figure.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            name=region,
            marker=dict(size=10, color=plots.REGION_COLOURS[region], symbol="square"),
        )
    )
figure.update_xaxes(visible=False)
figure.update_yaxes(visible=False)
figure.update_layout(height=420, margin=dict(l=5, r=5, t=40, b=5), title="Fig. 8 reproduced")
figure.show()

# %%
pd.DataFrame(
    {
        "cells on the grid": {region: int(grid_masks[region].sum()) for region in faces.REGIONS},
        "pixels": {region: int(pixel_masks[region].sum()) for region in faces.REGIONS},
    }
)

# %% [markdown]
# The same masks can be drawn for any single frame from its own landmarks, which is what the
# unit chapter's NetDissect-style scores use (faces do not all land on the average).

# %%
example = len(face_store) // 2
own_masks = faces.region_masks(face_store.landmarks[example], size)
figure = make_subplots(
    rows=1,
    cols=2,
    horizontal_spacing=0.02,
    subplot_titles=["its own landmarks", "its own masks"],
)
crop = np.asarray(face_store.crops[example])
figure.add_trace(go.Image(source=images.image_uri(crop)), row=1, col=1)
figure.add_trace(
    go.Scatter(
        x=face_store.landmarks[example][:, 0],
        y=face_store.landmarks[example][:, 1],
        mode="markers",
        marker=dict(size=3, color="lime"),
        showlegend=False,
    ),
    row=1,
    col=1,
)
figure.add_trace(
    go.Image(source=images.image_uri(images.masks_over(crop, own_masks))), row=1, col=2
)
figure.update_xaxes(visible=False)
figure.update_yaxes(visible=False)
figure.update_layout(
    height=380,
    margin=dict(l=5, r=5, t=40, b=5),
    title=f"Masks of one face: {face_store.meta['clip'].iloc[example]}",
)
figure.show()

# %%
saved = results.save_results(
    "02_faces",
    {
        "detection_rate": detection["detection_rate"].to_dict(),
        "clips_missing_frames": detection["clips_missing_frames"].to_dict(),
        "faces": detection["faces"].to_dict(),
        "frames": detection["frames"].to_dict(),
        "eye_alignment_error_px": float(quality["eye_alignment_error_px"].mean()),
        "true_eye_alignment_error_px": float(quality["true_eye_alignment_error_px"].mean())
        if dataset.synthetic
        else None,
        "landmark_error_iod": quality["landmark_error_iod"].to_dict()
        if dataset.synthetic
        else None,
        "face_size": size,
        "grid": grid,
        "mean_landmarks": mean_landmarks.round(3),
        "grid_masks": {region: grid_masks[region].astype(int) for region in faces.REGIONS},
        "synthetic": dataset.synthetic,
    },
    profile=settings.name,
    data=dataset.description,
)
print(f"saved {saved}")

# %% [markdown]
# ## Summary
#
# dlib finds a face in nearly every sampled frame; the frames it misses are counted and kept
# out of the face store. One similarity transform per frame puts the eyes at fixed positions,
# so the average face is sharp around the eyes and the mouth, and the face-part masks drawn
# from the mean landmarks sit on the right cells of the conv5 grid. On the synthetic set the
# ground truth measures the whole chain: how far dlib's landmarks are from the true ones, and
# how far that moves the real eyes in the aligned crop.
