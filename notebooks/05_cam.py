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
# # 5. Where the model looks: class activation maps
#
# **The question.** When a network judges apparent personality, where in the frame does it look,
# and does that tell us where the information is?
#
# **The paper's claim.** Section 4.2 of the paper maps, for the 50 test videos with the highest
# predicted value of each trait, where the full-frame CAM model looked (Fig. 5), binarises each
# map at 0.8 of its maximum and reports that 72.80% of the maps overlap the detected face box
# by at least 0.9, with a mean overlap of 0.76; from this it concludes that "the face provides
# most of the discriminant information". Section 4.3 repeats the maps on aligned faces
# (Fig. 6).
#
# **Method.** This chapter reproduces both, then asks what the paper did not: how much of that
# overlap a map that ignores the image would get (a centre prior, the dataset's face-location
# prior, random maps), whether the overlap survives randomising the network
# {cite:p}`adebayo2018sanity`, whether Grad-CAM on DAN+ itself agrees, whether hiding a region
# moves the prediction, and, on the synthetic set, whether the maps find the cue that was planted
# *outside* the face.
#
# **The authors' protocol** (their `find_highest_activation_images.m` and
# `localization_highest_images.m`): rank the test *videos* by the predicted trait, a video's
# prediction being the mean over its sampled frames, and map the first sampled frame of each of
# the top 50; the 14x14 CAM is brought to the 224x224 frame with MATLAB's `imresize` (bicubic
# by default) before it is binarised; the face box comes from OpenFace, whose 1.x detector is
# dlib's HOG detector (here: dlib's HOG detector itself, chapter 2). That protocol gives the
# headline figures below (`cam_ranking = "videos"` on every profile). Ranking single frames
# instead (the paper's text says "the 50 images") is a check in 5.2.
#
# **Definitions.** A CAM {cite:p}`zhou2016learning` of trait t is the sum of the last convolutional
# maps weighted by the output layer's weights for t. It is signed: the raw binarisation keeps pixels
# at or above 0.8·max, so negative evidence never passes (a map with no positive value has no
# activated region and is left out); the min–max variant rescales the map to [0, 1] first.
# The overlap is |M_face ∩ M_CAM| / |M_CAM|, a recall of the map by the face box. A mapped frame in
# which dlib found no face has no box: it is left out of the overlap and counted. Intervals are 95%
# bootstrap intervals {cite:p}`efron1993introduction` that resample *clips*, since the frames of a
# clip are far from independent.

# %% tags=["parameters"]
profile = "default"  # smoke (seconds, tests), default (the book, CPU) or paper (real data, GPU)
data_root = None  # None for the synthetic set (made on first use), or the real dataset's folder
device = "auto"  # "auto" uses CUDA when present, else the CPU
seed = 0  # seed of the synthetic set and of the training
backbone_weights = None  # a VGG-Face .pth, "imagenet", or None: the profile's own start
top_n = 50  # videos (or frames) per trait with the highest prediction (the paper's 50)
n_boot = 2000  # bootstrap resamples of clips

# %%
from personality_utils.book import explorers, session
from personality_utils.cam import causal, checks, maps
from personality_utils.cam import randomisation as cam_randomisation
from personality_utils.cam import study as cam_study
from personality_utils.figures import measures, plots
from personality_utils.models import reporting

chapter = session.start("05_cam", profile, data_root, device, seed, backbone_weights)
settings = chapter.settings

# %%
runs = {source: chapter.experiment(source, settings.cam_kind) for source in ("frames", "faces")}
study = cam_study.prepare(  # both CAM models' maps of the test split, face boxes, top images
    chapter.dataset,
    runs["frames"].trained,
    runs["faces"].trained,
    top_n,
    settings.cam_ranking,
    settings.cam_upsampling,
)
print(f"CAM model: {settings.cam_kind}; {study.description()}")
chapter.compare_with_authors()

# %%
cam_study.model_table(runs).round(4)

# %% [markdown]
# On the CPU profiles the CAM model is the Fig. 4 form (global average pooling + one linear
# layer on the conv5_3 maps, chapter 3 says why) at 112-pixel input, so a map has 7x7 cells of
# 32 frame pixels each, twice as coarse as the paper's 14x14; the `paper` profile trains the
# authors' head at 224 pixels. Every profile upsamples the maps as the authors did (MATLAB's
# bicubic `imresize`, `cam.maps.upsample`).
#
# ## 5.1 Figures 5 and 6
#
# The first sampled frame (Fig. 5) and the first face crop (Fig. 6) of the 20 test videos with
# the highest predicted value of each trait, with their CAM (red = high). Pick the model and
# trait in the menu; the paper shows agreeableness.

# %% tags=["hide-input"]
plots.gallery_with_menu(
    study.panels(20),
    columns=10,
    tile_height=90,
    title=f"Class activation maps, highest predicted test {study.ranking}: ",
    active="full frames · agreeableness",
).show()

# %% [markdown]
# In a live kernel (`make lab`), the CAM explorer below maps any test frame or face crop for
# any trait and binarises it at any threshold, with the face box and the paper's overlap (the
# static book shows nothing here).

# %% tags=["hide-input"]
explorers.cam_explorer(study)

# %% [markdown]
# ## 5.2 The face overlap, as in the paper

# %%
headline = study.overlap(study.ranking, n_boot, seed)
print(headline.description())
headline.with_paper().round(3)

# %% [markdown]
# **Check: ranking frames instead of videos.** The paper's text speaks of "the 50 images that
# give the highest predicted value"; its code ranks videos. Ranking single frames changes two
# things. A video contributes as many frames as it has near-copies among the top ones, so the
# 50 maps come from fewer clips and say less; and, because an overlap needs a face box, only
# frames where dlib found a face can compete (as this book did before it followed the authors'
# code), which selects frames where the face is frontal and clear, so on real data it biases
# the overlap upwards. In the video protocol the frame is chosen by its position (the first),
# whatever it shows; a first frame with no face is left out of the overlap and counted above.

# %%
check = study.overlap(study.other_ranking, n_boot, seed, by=None)
cam_study.protocol_table(headline, check).round(3)

# %% [markdown]
# The paper's two figures are a share of maps and a mean; the threshold behind them (0.8·max)
# is a choice. Lower thresholds make M_CAM larger, so it spills out of the box; the min–max
# variant also admits the map's negative evidence once the threshold is low.

# %% tags=["hide-input"]
measures.threshold_curves(study.threshold_curve(headline), cam_study.PAPER_FIGURES).show()

# %% [markdown]
# ## 5.3 What a map that ignores the image would score
#
# The faces of First Impressions sit near the middle of the frame, and so do the synthetic
# ones. A map that always peaks at the centre (a Gaussian, σ = a quarter of the side), the
# dataset's *face-location prior* (for every pixel, the share of training frames whose face box
# covers it: a map that knows where faces usually are and nothing about the frame at hand, the
# strongest image-blind baseline), a random map at the CAM's resolution, and the share of the
# frame the box covers (what an activated region placed at random would get on average) are
# scored on the same frames. The paper's conclusion needs the CAM well above these, not just
# above 0.5. The pointing game
# (is the map's maximum inside the box) and the energy in the box (share of positive mass
# inside it) do not depend on a threshold. DAN+ (chapter 3's model, reloaded) is mapped with
# Grad-CAM and LayerCAM on the frames it predicts highest.

# %%
danplus = checks.danplus_maps(study, chapter.experiment("frames"))
face_prior = checks.face_location_prior(maps.dlib_boxes(chapter.dataset.store("train")), study.size)
baselines = checks.baselines(study, headline, danplus, n_boot, seed, face_prior)
print(baselines.description())
baselines.table().round(3)

# %% tags=["hide-input"]
measures.measure_bars(
    baselines.scores(),
    "value",
    group="map",
    series="measure",
    title="Face-box scores of the maps and of image-blind baselines (95% clip-bootstrap)",
    yaxis_title="share / overlap",
).show()

# %% [markdown]
# Grad-CAM {cite:p}`selvaraju2017gradcam` and LayerCAM {cite:p}`jiang2021layercam`, computed
# with `torchcam` {cite:p}`fernandez2020torchcam`, explain DAN+, the model behind Table 1, without
# changing its architecture; their target is the network's pre-sigmoid output of the trait
# (a regression has no class score; the sigmoid would only shrink gradients near 0 and 1). For
# a global-average-pooling + linear head the CAM and Grad-CAM are the same map up to a positive
# scale (the tests check it on a tiny network); on the CAM model itself:

# %%
agreement = checks.gradcam_agreement(study, headline, runs["frames"].trained, settings.cam_kind)
print(agreement.description())

# %% [markdown]
# ## 5.4 Sanity check: cascading randomisation
#
# {cite:t}`adebayo2018sanity` re-initialise a trained network from the top down and recompute the
# maps after each step. An explanation of *the model* must change as the weights it explains
# are destroyed; a map that stays the same is showing the input's structure (edges, the face
# itself), not what was learned. Below: the Spearman correlation of the maps with the trained
# ones, and their mean face overlap, after randomising the head, then conv5_3, conv5_2, …
#
# The rank correlation can hardly fail here: with a global-average-pooling + linear head, the
# map is a weighted sum of conv5_3's channels, and new head weights alone reorder it. The
# question that matters for this chapter is Adebayo et al.'s own: do the randomised networks'
# maps still overlap the face *as much as* the trained model's? If one does, at any stage of
# the cascade, the paper's overlap statistic can be had without what the network learned: it
# measures the input (faces sit where they sit) or the architecture. The claim below reads, for
# every stage, the paired difference on the same frames of the trained maps' overlap and the
# randomised network's, with people resampled; the line printed first gives the stage that
# comes closest.

# %%
randomisation = cam_randomisation.randomisation(
    study, headline, runs["frames"].trained, danplus, seed, n_boot
)
print(randomisation.description())
randomisation.overlap_table().round(3)

# %% tags=["hide-input"]
measures.randomisation_curves(randomisation.table).show()

# %% [markdown]
# ## 5.5 Which face parts the face model looks at
#
# Section 4.3 says the face model's maps fall on the eyes and mouth for every trait and that
# traits barely differ. Each map of the top videos' first face crops (Fig. 6) has its positive
# mass split over the eyebrow, eye, nose and mouth masks drawn from *that* crop's landmarks; a
# part's share of the crop's area says what a map spread evenly would give. To ask whether the
# traits differ, every trait's map of the same crops (the top crops of all traits together) is
# compared, pairing the maps of one crop.

# %%
parts = study.face_parts(n_boot, seed)
print(parts.description())
parts.mass_table.round(3)

# %% tags=["hide-input"]
measures.measure_bars(
    parts.shares,
    "value",
    group="region",
    series="trait",
    title="Share of the face model's CAM mass per face part, top test crops per trait",
    yaxis_title="share of positive CAM mass",
).show()

# %% [markdown]
# ## 5.6 Ground truth: can the maps see a cue outside the face?
#
# On the synthetic set the labels are a known function of the picture: openness is driven
# mostly by a poster in the background, the other traits by facial action units and glasses.
# If the face overlap measured "where the information is", the context-driven trait must come
# out lower, and its maps must put mass on the poster. Below, per trait: the planted share of
# label variance outside the face (on the poster; and on the poster or through who the person
# is, the identity route: glasses are drawn per person with the person's room and shirt), the
# mean face overlap of the top-frame maps, and the share of the maps' positive mass inside the
# poster's true box (all test frames). The claims read the context trait's gap to the nearest
# other trait with a people-bootstrap interval, printed below the table.

# %%
r2 = runs["frames"].test.all.metrics["r2"]
truth = checks.ground_truth(study, headline, chapter.dataset, r2, n_boot, seed)
print(truth.description() if truth else "real data: no planted ground truth")
if truth is not None:
    for name, gap in (("mean overlap", truth.overlap_gap), ("poster mass", truth.poster_gap)):
        print(
            f"{name}, {truth.context_trait} minus the nearest other trait: {gap['value']:+.3f} "
            f"[{gap['low']:+.3f}, {gap['high']:+.3f}]"
        )
truth.table.round(3) if truth else None

# %% [markdown]
# ## 5.7 Causal tests: hide a region, watch the prediction
#
# The overlap says where a map is, not that the model needs what is there. Here the input is
# changed and the output measured (`personality_utils.cam.causal`). A hidden region is replaced by
# the model's training mean image, so it carries no evidence either way. Every target is the
# model's output for one trait: trait scores (0-1) for occlusion, the signed pre-sigmoid output
# for the curves, with no softmax anywhere. The claims read the CAM model, whose maps the
# sections above score; DAN+ (Table 1's model) is shown beside it.
#
# * **Occlusion**: per trait, how far the scores move (mean |change| per clip, people
#   resampled) when the dlib face box is hidden, when a box of the same size is hidden off the
#   face (at a random place touching neither the face nor the poster), and, on the synthetic set,
#   when the planted poster is hidden.
# * **The face alone, the context alone**: every frame with a face box scored with everything
#   but the face hidden, then with only the face hidden.
# * **Deletion and insertion** (Petsiuk et al., 2018): on the top frames of each trait the
#   pixels are hidden (deletion) or revealed on the mean image (insertion) in the map's order,
#   from none to all. The area under the curve of the output's change (AUC) is compared with a
#   random order and with a centre prior. "CAM, higher first" takes the pixels the map says raise
#   the trait, so the output should fall fastest. "CAM, lower first" takes those that lower it,
#   so the output should rise.

# %%
danplus_frames = chapter.experiment("frames").trained
models = {"CAM model": runs["frames"].trained, "DAN+": danplus_frames}
tests = causal.run(
    study, chapter.dataset, models, settings.perturbation_images, n_boot=n_boot, seed=seed
)
print(tests.description())
tests.occlusion_table().round(4)

# %% tags=["hide-input"]
measures.measure_bars(
    tests.occlusion["CAM model"].bars(),
    "value",
    group="trait",
    series="region hidden",
    title="CAM model: mean |change| of each trait score when a region is hidden (95% people)",
    yaxis_title="mean |change| of the trait score",
).show()

# %%
tests.masked_table().round(4)

# %%
tests.perturbation.table().round(3)

# %% tags=["hide-input"]
measures.perturbation_curves(tests.perturbation.mean_curves()).show()

# %% [markdown]
# ## What held
#
# Read with chapter 3: a model that learned little about a trait (R² near 0) has maps that
# say little about it either, so the face overlap of such a trait measures the network's
# generic spatial habits, not where that trait's information is. The book has one gate for this
# in chapters 5, 6 and 7: a trait whose model's test R² is below 0.1 is *not testable here* in
# every per-trait claim (named in its evidence) rather than counted against the claim. Every
# claim also rests on the instruments it needs, checked on the same data and saved with the
# measurements: dlib's detection rate on the test frames (the face boxes), and the CAM model's
# gain over the constant predictor (the maps of a model that learned nothing say nothing); a
# claim whose instrument failed its own check is not testable, never "did not hold". The
# overlap is a recall of the map by the box and rewards small, central activated regions; the
# centre prior and, stronger, the face-location prior show how far that alone goes.
#
# The causal tests answer a different question from the maps. Occlusion asks what the model
# *needs*, and on the synthetic set its answer can be checked: the poster-driven trait must
# move when the poster is hidden and the face-driven traits when the face is. A trait counts as
# face-driven only when little of its planted signal can be read outside the face: through the
# poster, *or* through who the person is. Glasses, room and shirt are drawn per person and
# shared by that person's clips across the splits (as people recur in First Impressions), so a
# model can read a person's glasses-driven conscientiousness from their room; the table of 5.6
# gives each trait's share of both routes, and conscientiousness, mostly glasses, is therefore
# not among the face-driven traits. (A profile with `synthetic_identity = "clip"` makes a set
# whose glasses, room and shirt are drawn per clip: the route closed, and conscientiousness
# face-driven there.) Two caveats go with the causal tests. A frame with a grey
# box, or with everything but the face grey, is unlike any training frame, so a model scored on
# "the face alone" or "the context alone" may fall to the constant predictor whatever it used.
# That makes the face-only against context-only comparison weak in both directions (Hooker et
# al., 2019, retrain for this reason; this book does not). Deletion curves share the problem at
# their far end. Where the CAM order deletes *slower* than a random order, the map's high cells
# are not where the trait's positive evidence is, and the rows below say so.
#
# The chapter's claims, judged by the rules of `personality_utils.claims.catalogue` from the
# measurements below (the summary page judges the same rows from the same record). "The same face
# parts" is a claim of sameness: it holds only if the interval of the largest difference between
# traits lies inside a margin, never because a test failed to find a difference. On the synthetic
# set, the rows whose answer the generator's planted weights decide are checks of the method, not
# findings; the summary page sets the paper's overlap against the causal tests and says which
# one the ground truth supports.

# %%
instruments = reporting.model_instruments(
    chapter.dataset, {"model gain": runs["frames"], "face model gain": runs["faces"]}, seed
)
measurements = cam_study.measurements(
    headline,
    baselines,
    randomisation,
    parts,
    truth,
    tests,
    instruments,
    reporting.trait_r2(runs["frames"]),
)
record = cam_study.results_record(
    study, settings.cam_kind, headline, check, baselines, randomisation, parts, truth, tests
)
claim_rows = chapter.finish(measurements, record)
