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
# # 5b. Which explanation can you trust? Attribution methods against planted causes
#
# **The question.** Chapter 5 read the CNN through one instrument, the class activation map, and
# found that on the synthetic set the instrument and the causal tests disagree. Researchers who
# explain personality regressors reach for Grad-CAM, Integrated Gradients or occlusion maps and
# ask how to point them at a regression output; no real dataset can tell them which method finds
# the real cause, because no real dataset has a known one. This book's synthetic set has one:
# for every frame the generator knows where the poster is (openness), where the glasses are
# (conscientiousness) and which face parts its action units move (the other traits).
#
# **Not in the paper.** The paper uses the CAM only. Published CAM studies on First Impressions
# disagree on whether the face dominates, and on whether the answer depends on the backbone; the
# deletion test chapter 5 ran fills the image with grey, which the literature shows to be out of
# the training distribution {cite:p}`hooker2019benchmark,rong2022road`. This chapter scores
# every method on the same test images, against the planted truth and against controls.
#
# **Methods.** Each map explains one trait's signed pre-sigmoid output (a regression has no
# class score; no softmax anywhere):
#
# * the CAM itself {cite:p}`zhou2016learning` (CAM models only), Grad-CAM
#   {cite:p}`selvaraju2017gradcam`, Grad-CAM++ {cite:p}`chattopadhay2018gradcampp` and LayerCAM
#   {cite:p}`jiang2021layercam` from `torchcam` {cite:p}`fernandez2020torchcam` at `relu5_3`;
# * Integrated Gradients {cite:p}`sundararajan2017axiomatic`, the signed gradient (saliency), a
#   sliding-window occlusion map {cite:p}`zeiler2014visualizing` and feature ablation over a patch
#   grid, from `captum` {cite:p}`kokhlikyan2020captum`, each from the training mean image (what
#   carries no evidence for a model trained on these frames);
# * and three maps that do not look at the image: a centre prior, the dataset's face-location
#   prior (chapter 5's strongest image-blind baseline) and a random map.
#
# **Scores against the planted truth**, per model, method and trait, over one image per sampled
# test clip, each with a 95% interval that resamples *people*:
#
# * *relevance mass*: the share of the map's positive mass inside the planted region, and
#   *relevance rank accuracy*: the share of the map's K highest pixels inside it, K the region's
#   size {cite:p}`arras2022clevrxai`; the *pointing game*: is the map's maximum inside it (the
#   tests check all three against Quantus {cite:p}`hedstrom2023quantus`);
# * the *symmetric removal score* SRG {cite:p}`blucher2024decoupling`: patches are replaced
#   most relevant first (MoRF) and least relevant first (LeRF), the area between the two output
#   curves, in units of the output's spread over the images; with two fills (the training mean
#   image and a blur of the image itself), and against the distribution of the same score for
#   random patch orders;
# * a *false-positive control* {cite:p}`adebayo2022posthoc,yang2019bam`: the CAM model trained
#   again on the same frames with labels whose poster term is shuffled across clips (the poster
#   carries no signal, the labels' spread is kept); each method's mass on the poster must fall;
# * *model randomisation* {cite:p}`adebayo2018sanity`: every weight of the CAM model re-initialised,
#   judged on the planted-region mass, not only on the maps' rank correlation;
# * *the backbone*: the same CAM model fine-tuned from random weights instead of the identity
#   pretrained backbone.
#
# The planted region of a trait is read off the generator's weights (`attribution.regions`):
# the poster's true box for openness, the glasses' region (lenses, bridge, temples, drawn from the
# eye landmarks whether or not the person wears them) for conscientiousness, and the union of
# the face parts moved by the planted AUs for the others. On real data there is no planted truth:
# only the face overlap, the removal scores and the rank correlations are measured there.

# %% tags=["parameters"]
profile = "default"  # smoke (seconds, tests), default (the book, CPU) or paper (real data, GPU)
data_root = None  # None for the synthetic set (made on first use), or the real dataset's folder
device = "auto"  # "auto" uses CUDA when present, else the CPU
seed = 0  # seed of the synthetic set, of the training and of the sampled test clips
backbone_weights = None  # a VGG-Face .pth, "imagenet", or None: the profile's own start
n_boot = 2000  # bootstrap resamples of people

# %%
import pandas as pd

from personality_utils.attribution import leaderboard, regions
from personality_utils.attribution.methods import METHOD_NOTES
from personality_utils.book import session
from personality_utils.core.vocabulary import TRAITS
from personality_utils.figures import attribution as figures
from personality_utils.models import reporting

chapter = session.start("05b_attribution", profile, data_root, device, seed, backbone_weights)
settings = chapter.settings
print(settings.attribution)

# %%
cam_run = chapter.experiment("frames", settings.cam_kind)
danplus = chapter.seed_runs("frames")
faces_run = chapter.experiment("faces")
removal = settings.attribution.removal_models  # whose removal curves are computed
models = [
    leaderboard.Model(
        "CAM model", "frames", [cam_run.trained], [cam_run.checkpoint], "CAM model" in removal
    ),
    leaderboard.Model(
        "DAN+",
        "frames",
        [run.trained for run in danplus.runs.values()],
        [run.checkpoint for run in danplus.runs.values()],
        "DAN+" in removal,
    ),
    leaderboard.Model(
        "DAN+ (faces)",
        "faces",
        [faces_run.trained],
        [faces_run.checkpoint],
        "DAN+ (faces)" in removal,
    ),
]
controls = {}
if settings.attribution_controls:
    controls["random_init"] = chapter.experiment("frames", settings.cam_kind, variant="random_init")
    if chapter.dataset.synthetic:
        controls["no_poster"] = chapter.experiment("frames", settings.cam_kind, variant="no_poster")
for name, run in controls.items():
    print(f"control {name}: test MA {run.test.all.mean_accuracy:.4f}")
result = leaderboard.run(
    chapter.dataset,
    models,
    {name: run.trained for name, run in controls.items()},
    settings.attribution,
    n_boot,
    seed,
)
print(result.description())

# %% [markdown]
# The methods, as run here (the options are the profile's `attribution` settings):

# %%
pd.DataFrame({"method": list(METHOD_NOTES), "what it is": list(METHOD_NOTES.values())}).set_index(
    "method"
)

# %% [markdown]
# The planted cause of each trait, as the generator's weights give it (synthetic set only):

# %%
(
    pd.Series({trait: regions.cue_label(trait) for trait in TRAITS}, name="planted cause")
    if chapter.dataset.synthetic
    else "real data: nothing planted"
)

# %% [markdown]
# ## 5b.1 The leaderboard: mass on the planted cause
#
# Relevance mass in the planted region per map, one trait at a time (the menu picks the trait
# and sorts the maps by it). The CAM model's controls are rows too: the same model trained where
# the poster carries no signal, fine-tuned from random weights instead of the pretrained
# backbone, and with every weight re-initialised. For the Fig. 4 head of the CPU profiles
# (global average pooling and one linear layer) the CAM and Grad-CAM are the same map up to a
# positive scale (chapter 5's test), so their rows coincide. A method earns its place only above
# the grey image-blind maps: the face-location prior already puts mass where faces usually are,
# which is where the AU regions and the glasses lie. For openness the cause is off the face, on
# the poster.

# %% tags=["hide-input"]
scores = result.scores()
figures.leaderboard(scores, "mass", "Relevance mass in the planted region: ").show()

# %%
result.leaderboard("mass").round(3)

# %% [markdown]
# The same maps on relevance rank accuracy and the pointing game (means over the sampled
# images; the intervals are in the results file):

# %%
pd.concat(
    {"rank accuracy": result.leaderboard("rank"), "pointing game": result.leaderboard("pointing")},
    axis=1,
).round(3)

# %% [markdown]
# DAN+ has one model per training seed; its rows above average each image's scores over the
# seeds. How far the seeds differ, per map and trait:

# %%
spread = result.seed_spread()
spread.groupby("method")["range"].describe()[["mean", "max"]].round(3) if len(spread) else None

# %% [markdown]
# ## 5b.2 Removing in the map's order
#
# Square patches of the model's input (the profile's `patch`, printed at the top) are replaced
# in the map's order, most relevant first and least relevant first, and the trait's output is
# read after each of `steps` equal steps. A map that ranks the image by what the model uses
# separates the two curves (SRG > 0); random orders give the band shown in the legend. The two
# fills ask whether the answer depends on how a patch is removed.

# %% tags=["hide-input"]
removal_table = result.removal_table()
figures.removal_scores(removal_table, leaderboard.JUDGED).show()

# %%
agreement = result.removals[leaderboard.JUDGED].fill_agreement
print(
    f"agreement of the two fills over (map, trait) cells: Spearman {agreement['spearman']:+.2f} "
    f"(p = {agreement['p']:.3g}, {agreement['cells']} cells)"
)
removal_table.pivot_table(index=["model", "method"], columns=["fill", "trait"], values="srg").round(
    2
)

# %% [markdown]
# ## 5b.3 Controls: a poster with no signal, a randomised network, a random start
#
# **False positives.** The control model sees the same frames; only the poster's share of the
# openness labels is shuffled across clips. A method that reads the model must move its
# openness map off the poster; one that shows the poster because it is salient will not.

# %%
context = result.context_trait(chapter.dataset)
fp = result.false_positive(context) if context and "no_poster" in result.controls else {}
pd.DataFrame(fp).T.round(3) if fp else "no false-positive control on this profile or data"

# %% [markdown]
# **Randomisation.** Every weight of the CAM model re-initialised: the mass the maps keep on the
# planted regions (trained minus randomised; positive means the learned weights put it there),
# and the maps' mean rank correlation with the trained maps.

# %%
drops = result.control_drop("randomised")
table = pd.DataFrame(
    {method: {t: v["value"] for t, v in traits.items()} for method, traits in drops.items()}
).T
table["rank correlation"] = pd.Series(result.rank_correlation)
table.round(3)

# %% [markdown]
# **The backbone.** The published disagreement on whether the face dominates flips between
# backbones; here the same CAM model is fine-tuned from random weights. Mass in the planted
# regions (mean over traits), pretrained minus random start:

# %%
backbone = result.backbone()
pd.DataFrame(backbone).T.round(3) if backbone else "no random-start control on this profile"

# %% [markdown]
# ## 5b.4 Does the paper's instrument reward the method that finds the cause?
#
# The paper's face overlap (binarised at 0.8 of the maximum, recall by the dlib face box) of
# every map of the CAM model on the sampled frames (not the paper's top 50 per trait: the same
# frames for every map), against its mass on the planted cause, per trait (the menu) and over
# every trait. If the overlap were a measure of "where the information is", the maps with the
# highest overlap would also be the ones on each trait's cause, so the correlation across maps
# would be positive for every trait, the one whose cause is off the face included.

# %% tags=["hide-input"]
cause = result.cause()
figures.overlap_against_cause(cause, "CAM model: the paper's overlap against the cause").show()

# %%
pd.DataFrame({"all traits": cause["spearman"], **cause["by_trait"]}).T.rename_axis(
    "Spearman across maps"
).round(3)

# %%
pd.DataFrame(
    {
        "face overlap (the paper's)": cause["mean_overlap"],
        "mass on the planted cause": cause["mean_mass"],
    }
).sort_values("mass on the planted cause", ascending=False).round(3)

# %% [markdown]
# ## What held
#
# The chapter's rows, judged by the rules of `personality_utils.claims.catalogue` from the
# measurements below (the summary page judges the same rows from the same record). Where the
# generator's planted weights decide a row's answer it is a check of the method: it says which
# methods recover a cause that was planted on purpose. A per-trait row leaves out a trait the
# CAM model did not learn (test R² below 0.1, named in the evidence), and every row rests on the
# CAM model's gain over the constant predictor and on dlib's detection rate.

# %%
instruments = reporting.model_instruments(
    chapter.dataset, {"model gain": cam_run, "face model gain": faces_run}, seed
)
measurements = result.measurements(chapter.dataset, reporting.trait_r2(cam_run), instruments)
claim_rows = chapter.finish(measurements, result.record())
