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
# # 3. Full frames: DAN+ and the CAM model
#
# **The question.** How well does a CNN that sees whole frames judge apparent personality, and
# how much of that is more than predicting the average?
#
# **The paper's claim.** The paper's first experiment (Section 4.1, Table 1 "img") trains
# DAN+, the visual half of the 2016 challenge winner {cite:p}`zhang2016deep`, on whole frames
# squashed to 224x224, 10 frames per clip, and reaches a mean accuracy of 0.909 on the test set. To
# see *where* such a network looks, the authors then replace its head by a class-activation-map
# (CAM) head {cite:p}`zhou2016learning` (their Fig. 3b).
#
# **Method.** Both models are trained on full frames and scored the way the challenge did,
# next to the constant predictor and with the measures that accuracy hides (R², Pearson r,
# concordance correlation), with intervals that resample people.
#
# **The models** (`personality_utils.models.networks`), on torchvision's VGG-16 `features`
# {cite:p}`simonyan2015very`:
#
# * **DAN+**: global max and global average pooling of relu5_2 and of pool5, each
#   L2-normalised, concatenated, one linear layer to the five traits, sigmoid;
# * **CAM model**, in one of two forms. The authors' code (their Fig. 3b): pool5 removed; on
#   relu5_3 a 3x3 convolution to five maps, ReLU, global average pooling, L2 normalisation,
#   dropout, a 5→5 linear layer, sigmoid. The paper's Fig. 4 describes the textbook form: global
#   average pooling of the conv5_3 maps and one linear layer to the traits. Both give class
#   activation maps; the profile says which one is trained (`cam_kind`): the authors' head on
#   the `paper` profile, the Fig. 4 head on the CPU profiles, because the authors' head barely
#   leaves the constant predictor in a CPU budget where the Fig. 4 head learns as much as DAN+
#   (`benchmarks/cpu_recipe.py` trains both on the synthetic set and prints their validation
#   scores). The authors' new layers (the 3x3 and 1x1 convolutions of their head, DAN+'s
#   linear layer) start from 0.05·randn with zero biases, on every profile.
#
# Both are trained with the paper's loss, the Euclidean distance over the five traits, with
# the whole batch flipped horizontally half of the time. A clip's prediction is the mean over
# its frames; accuracy is 1 − |prediction − truth|, averaged over clips, and MA is its mean
# over the traits.

# %% tags=["parameters"]
profile = "default"  # smoke (seconds, tests), default (the book, CPU) or paper (real data, GPU)
data_root = None  # None for the synthetic set (made on first use), or the real dataset's folder
device = "auto"  # "auto" uses CUDA when present, else the CPU
seed = 0  # seed of the synthetic set and of the training
backbone_weights = None  # a VGG-Face .pth, "imagenet", or None: the profile's own start

# %%
from personality_utils.book import session
from personality_utils.core import paper, stats
from personality_utils.data import release
from personality_utils.figures import plots
from personality_utils.models import experiments, pretraining, reporting, training

chapter = session.start("03_full_frames", profile, data_root, device, seed, backbone_weights)
settings, dataset = chapter.settings, chapter.dataset
chapter.compare_with_authors()

# %% [markdown]
# The table sets the profile in use beside the authors' own recipe, read from their MatConvNet
# scripts (`train_regression_DANplus_*.m` on `cnn_train_dag`): VGG-Face fine-tuned at 224x224,
# batch 32, 10 epochs of SGD with momentum 0.9 and MatConvNet's default weight decay of 5e-4.
# Their scripts set `learningRate = logspace(-3,-6,30)` but train 10 epochs, and MatConvNet
# reads `learningRate(min(epoch, 30))`, so the rates actually run are the first 10 of those 30
# values, 1e-3 down to about 1.17e-4, not 1e-6. The full-frame model's input is each frame
# minus the training set's mean image on the 0–255 scale; the layers added on the backbone
# start from 0.05·randn with zero biases. The `paper` profile is exactly that recipe, each
# item a setting of `core.profiles.TrainConfig`; on it the `same` column is true throughout.
#
# The CPU profiles keep the topology (13 convolutions, 5 poolings, the same heads) and change
# what a 2-core budget forces, each choice measured on the synthetic set before it was made
# (`benchmarks/cpu_recipe.py` trains the variants and prints their validation scores):
#
# * every layer has 1/8 of the channels and the input is 112 pixels, so conv5_3 maps are 7x7
#   instead of 14x14 (full width trains at a few images per second on these CPUs:
#   `benchmarks/train_throughput.py --profile paper` prints the figure);
# * VGG-Face cannot be downloaded here, so the narrow network is first pretrained on
#   synthetic identities, its own small VGG-Face (section 3.0), with batch normalisation after
#   each convolution, input standardised by the pretraining crops' channel means and pixel
#   standard deviation, Adam, no weight decay, and learning rates log-spaced from 1e-3 to 1e-4
#   over 4 fine-tuning epochs (a fifth adds a few thousandths of MA and breaks the 15-minute
#   build), for every layer as the authors did: without these a narrow
#   VGG-16 barely leaves the constant predictor in a few epochs (a schedule that fell to 1e-5
#   spent its last epochs at rates too small to learn the expressions, and left the face
#   models' validation gain at about two thirds: `benchmarks/pretraining_recipe.py` prints
#   both);
# * the training steps run in bfloat16 where the CPU has native bfloat16 units (AMX on the CI
#   machine: 1.6 times the float32 speed), float32 elsewhere, with the weights kept in float32;
# * 5 frames per clip and more, shorter clips: labels are per clip, so on a fixed budget of
#   images, clip diversity is what a model generalises from.

# %% [markdown]
# ## 3.0 Where the models start: identity pretraining
#
# The authors did not train from scratch. They fine-tuned VGG-Face, a VGG-16 first trained to
# tell 2,622 people apart, and dropped its classifier (fc6–fc8). Whatever its conv5_3 units
# detect before any trait is seen comes from that identity task, which matters for chapter 6:
# a unit that responds to eyes may have been made by fine-tuning or inherited from face
# recognition.
#
# The CPU profiles do the same at their scale (`personality_utils.models.pretraining`). Their narrow
# VGG-16 first learns to recognise synthetic people, none of whom is in the dataset, from
# eye-aligned face crops rendered straight to images. Each crop gives the person its own
# expression (AU intensities), head roll, position and lighting, and a room, shirt and poster
# drawn from a pool, so only the face tells people apart. The classifier (global average
# pooling and one linear layer) is then dropped, and every model of chapters 3–4 fine-tunes
# the convolutions from there. `benchmarks/pretraining_recipe.py` compares fine-tuning
# recipes on the validation split. The `paper` profile starts from the VGG-Face file given as
# `backbone_weights` instead (random weights without one), and this section is empty there.

# %%
backbone = chapter.pretrained_backbone()  # None: VGG-Face or random weights (paper profile)
pretrained = pretraining.summary(backbone) if backbone else None
if pretrained:
    print(
        f"{pretrained['identities']} synthetic people, {pretrained['training_crops']} training "
        f"crops, {len(pretrained['history'])} epochs ({pretrained['seconds']:.0f} s): held-out "
        f"identification {pretrained['held_out_accuracy']:.1%} of {pretrained['held_out_crops']}"
        f" crops (chance {pretrained['chance']:.2%})"
    )

# %% tags=["hide-input"]
if pretrained:
    plots.image_grid(pretraining.examples(settings), columns=6, tile_height=110).show()
    plots.pretraining_curves(pretrained["history"]).show()

# %%
print(f"CAM model: {settings.cam_kind}; DAN+ training seeds: {chapter.training_seeds}")
seed_runs = chapter.seed_runs("frames")  # DAN+ once per training seed
runs = {"danplus": seed_runs.first, "cam": chapter.experiment("frames", settings.cam_kind)}
for kind, run in runs.items():
    print(
        f"{kind}: {len(run.history)} epochs, {run.history['seconds'].sum():.0f} s of training "
        f"in {training.history_precision(run.history)} (checkpoint {run.checkpoint.name}, "
        f"from {experiments.pretrained_from(run.config)})"
    )

# %% tags=["hide-input"]
plots.training_curves({kind: run.history for kind, run in runs.items()}).show()

# %% [markdown]
# What fine-tuning changed: how far each convolution's weights moved from the pretrained
# backbone, relative to their size (nothing is shown when the models start from other
# weights).

# %% tags=["hide-input"]
changes = pretraining.weight_changes(backbone, runs)
if changes:
    plots.weight_change_bars(changes).show()

# %% [markdown]
# ## 3.1 Scores on the test split
#
# Accuracy alone hides a lot in this band: the constant predictor (the training mean) already
# scores about 0.88. R² says how much of the label variance a model explains (0 for the
# constant), Pearson r whether it orders clips correctly, and Lin's concordance correlation
# (CCC; {cite:t}`lin1989concordance`) whether its predictions also match the scale of the labels.

# %%
test_scores = {kind: run.test.all for kind, run in runs.items()}
baseline = test_scores["danplus"].baseline
truth = dataset.store("test").clip_labels()
reporting.metrics_table(runs).round(4)

# %% tags=["hide-input"]
plots.accuracy_with_intervals(
    {f"{kind} (full frames)": scored for kind, scored in test_scores.items()}, baseline
).show()

# %% tags=["hide-input"]
plots.prediction_scatter(
    test_scores["danplus"].predictions,
    truth,
    "DAN+ on full frames: test clips, predicted against true",
).show()

# %% [markdown]
# **Training seeds.** One training run is one draw: the initial weights, the order of the
# batches and the flips all come from the seed. DAN+ is trained once per seed of the profile
# (`seeds`), on the same data; the table gives each seed's test scores and their mean and
# standard deviation. The claims below read all seeds: the accuracy is their mean, and its
# interval resamples the seeds as well as the people. The CAM model and the other chapters use
# the first seed's models.

# %%
seed_runs.table().round(4)

# %% [markdown]
# ## 3.2 Identity-disjoint evaluation
#
# The official splits share YouTube ids: the same person appears in training and test (82% of
# the real test ids occur in training), so a network can score by recognising people. Scoring
# only the test clips whose id never occurs in training removes that help (a later study of face
# against background on First Impressions used identity-disjoint splits too,
# {cite:p}`ras2019background`).

# %%
reporting.subset_table(runs).round(4)

# %% [markdown]
# The test predictions are also written in the 2016 challenge's CSV format, so the official
# scoring tools can read them.

# %%
csv_path = release.write_challenge_csv(
    test_scores["danplus"].predictions, chapter.output("danplus_test.csv")
)
print(f"wrote {csv_path.name}")

# %% [markdown]
# ## What held
#
# Both networks are trained from the uint8 frame store with the paper's loss and evaluated per
# clip. The claims below are judged by the rules of `personality_utils.claims.catalogue` from the
# measurements of this run (the summary page judges the same rows from the same record);
# intervals resample the people the test clips come from. On the synthetic set, R² and r per
# trait above show *which* planted causes a network picked up from whole frames: chapter 5 asks
# where it looked to do so.

# %%
measurements = stats.model_measurements(
    seed_runs.predictions(), truth, dataset.store("train").clip_labels(), seed
)
record = reporting.results_record(runs["danplus"])
record["seeds"] = seed_runs.record()
record["cam_model"] = reporting.results_record(runs["cam"])
record["cam_model"]["kind"] = settings.cam_kind
record["validation"] = (
    reporting.results_record(runs["danplus"], "validation") if runs["danplus"].validation else None
)
record["paper_mean_accuracy"] = paper.TABLE1["img (full frames)"]["MA"]
if pretrained:
    record["pretraining"] = {k: v for k, v in pretrained.items() if k != "history"}
    record["weight_change"] = {kind: change.to_dict() for kind, change in changes.items()}
claim_rows = chapter.finish(measurements, record)
