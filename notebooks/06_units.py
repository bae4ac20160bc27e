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
# # 6. What the units detect
#
# **The question.** Do the units of the face model become detectors of face parts and of
# glasses, as the paper reads them, or would any network of the same shape, shown aligned
# faces, look the same?
#
# **The paper's claim.** Section 4.4 of the paper looks inside the face model: for each unit of
# the last convolutional layer (conv5_3) it takes the 50 face crops that excite the unit most
# and where, in each, the unit peaks (Fig. 7). Summed over the 50 crops these peaks form a
# spatial histogram; counting the peaks that fall on the eyebrows, eyes, nose or mouth of the
# *average* face (Fig. 8) gives N', and the units with the largest N' are read as face-part
# detectors that "automatically emerge" (Fig. 9). Summed over all units of a layer, the
# histograms get "spikier" with depth (Fig. 10), and some units were found by hand to respond
# to glasses (Fig. 11).
#
# **Method.** This chapter reproduces those figures from one streaming pass over the test
# crops, then asks what the paper did not: did the detectors emerge with fine-tuning on the
# traits, or were they already in the network it was fine-tuned from? The fair null is that
# pretrained network before fine-tuning (VGG-Face {cite:p}`parkhi2015deep` in the paper, a network
# pretrained on synthetic identities on the CPU profiles): it has learned to tell faces apart, so it
# may have face-part units before it ever sees a trait. A network with *random* weights is a second,
# weaker reference (a straw man for an emergence claim): the aligned faces put every eye at the same
# place, so any network's peaks may land there. Where a model was trained from random weights there
# is no pretrained network, and the random one is the only null. Do the units pass the usual
# NetDissect test against each face's own part masks? Are glasses units real, measured against
# chance? And, on the synthetic set, do the units that drive each trait sit on the face parts that
# were planted to drive it?
#
# **The population.** The authors' `activation_unit_highest_faces.m` scans one face image per
# test video, the first one with a face, so their F is 2000, the number of test clips. That
# population (`unit_population = "first_face_per_clip"`, every profile) gives the headline
# figures below; 6.10 repeats the key measures over every test frame with a face, as this book
# did before it followed the authors' code. N is the paper's 50 where the population allows it,
# and a tenth of the population where it is smaller (the paper's top sets are 2.5% of F).
#
# **Definitions.** A unit is one channel of a layer, after its ReLU. Its top-N crops (as in
# {cite:t}`zhou2015object`) are the N crops of the population with the highest maximum of its map;
# its peak in a crop is the position of that maximum. N' for a region is how many of the N peaks
# fall in the region's mask, drawn on the average face's landmarks on the layer's grid (a cell
# belongs to the part that covers most of it). The NetDissect IoU thresholds a unit's upsampled maps
# at its own top 0.5% activation level and compares them with each crop's own part masks; a unit
# "detects" its best part when the IoU exceeds 0.04 {cite:p}`bau2017network`. The units analysed are
# those of the DAN+ face model of chapter 4, the model behind Table 1.

# %% tags=["parameters"]
profile = "default"  # smoke (seconds, tests), default (the book, CPU) or paper (real data, GPU)
data_root = None  # None for the synthetic set (made on first use), or the real dataset's folder
device = "auto"  # "auto" uses CUDA when present, else the CPU
seed = 0  # seed of the synthetic set and of the training
backbone_weights = None  # a VGG-Face .pth, "imagenet", or None: the profile's own start
top_n = 50  # crops kept per unit (the paper's N; a tenth of a smaller population)
n_permutations = 2000  # random unit sets for the ground-truth null
n_boot = 1000  # people draws of the emergence intervals (the seeds are resampled in each)
explorer_units = 64  # conv5_3 units in the explorer (all of them on the CPU profiles)

# %%
from personality_utils.book import explorers, session
from personality_utils.figures import unit_panels
from personality_utils.models import pretraining, reporting
from personality_utils.units import ablation as unit_ablation
from personality_utils.units import emergence as unit_emergence
from personality_utils.units import ground_truth, netdissect, summaries
from personality_utils.units import study as unit_study

chapter = session.start("06_units", profile, data_root, device, seed, backbone_weights)
dataset = chapter.dataset

# %%
run = chapter.experiment("faces")  # reloads the DAN+ face model of chapter 4
study = unit_study.prepare(dataset, run, chapter.settings, top_n, seed)
print(study.description())

# %%
chapter.compare_with_authors()

# %% [markdown]
# On the CPU profiles the network sees 112-pixel crops, so conv5_3 is a 7x7 map, half the
# paper's 14x14, and conv4_3 has the paper's 14x14 grid; every analysis below is shown for
# conv5_3 (the paper's layer) and, where the grid matters, for conv4_3 too. On the `paper`
# profile (224 pixels) conv5_3 is 14x14.
#
# ## 6.1 Figure 7: the top crops of ten units
#
# The first ten conv5_3 units, one per row, each on its ten top test crops, kept where the
# unit's upsampled map reaches half its maximum (the authors' segmentation) and dimmed
# elsewhere.

# %% tags=["hide-input"]
unit_panels.top_crops(study, units=range(10)).show()

# %% [markdown]
# ## 6.2 Figure 8: the average face and the part masks
#
# The average of the training crops, divided into the cells of each layer's grid; each part's
# mask is drawn from the average landmarks and a cell goes to the part that covers most of it
# (at least a quarter of the cell). The legend, and the table below, give each part's number of
# cells.

# %% tags=["hide-input"]
unit_panels.part_grid(study, "conv5_3").show()
unit_panels.part_grid(study, "conv4_3").show()

# %%
cells = unit_study.part_cells(study.masks)
print("parts with no cell of their own (they share cells with a larger part):")
print(unit_study.uncovered_parts(cells) or "none")
cells

# %% [markdown]
# ## 6.3 Figure 9: the best units for each face part
#
# Units ranked by N' for each part: the table gives the five best per part, layer and network;
# below it, the five best conv5_3 units per part with their top crops and, in the last column,
# their peak histogram over the average face. Pick the part in the menu.

# %%
rankings = unit_study.rankings(study, top=5)
unit_study.leaders_table(rankings)

# %% tags=["hide-input"]
unit_panels.part_gallery(study, rankings["trained"]["conv5_3"]).show()

# %% [markdown]
# ## 6.4 Did the detectors emerge? The network before fine-tuning, and random weights
#
# The paper reads a high N' as a detector that emerged with training on the traits. But its
# network was fine-tuned from VGG-Face, a face-identity network, whose units already respond to
# eyes, noses and mouths: a detector that was there before fine-tuning did not emerge from it.
# The same pass over the same crops with the network before fine-tuning (its backbone as the
# pretraining left it) is therefore the fair null. A randomly initialised network of the same
# shape is kept as a second reference: the crops are aligned, so the eyes and mouth always sit
# in the same cells, and any network's peaks may favour them; it says how much N' the alignment
# alone gives. Below, per part, the N' share of every unit in each network, and how many trained
# units beat the best unit of each null (`trained_above_pretrained`, `trained_above` for random
# weights).
#
# How strong is the fair null? The CPU profiles' pretraining (chapter 3) is their VGG-Face; how
# well it tells held-out people apart says how much it knows about faces, and so what "beyond
# the network before fine-tuning" means here:

# %%
backbone = chapter.pretrained_backbone()
if backbone is None:
    print("no identity pretraining here: the models start from given weights or random ones")
else:
    learned = pretraining.summary(backbone)
    print(
        f"the network before fine-tuning identifies {learned['held_out_accuracy']:.1%} of "
        f"{learned['held_out_crops']} held-out crops of {learned['identities']} people "
        f"(chance {learned['chance']:.2%})"
    )

# %% tags=["hide-input"]
unit_panels.share_boxes(study, "conv5_3").show()

# %%
emerged = unit_study.emerged_table(study)
emerged

# %% [markdown]
# A best unit against a best unit is one draw against another: N'/N moves in steps of 1/N, and
# a single network's maximum says nothing of how much it would vary with another training run.
# The claims below compare *distributions* instead, with intervals. Every network is run once
# more over the same crops keeping every crop's maximum and its position per unit (a dense pass,
# cached), so each statistic can be recomputed on a resample of people: the face model once per
# fine-tuning seed (the seeds of chapter 4), the network before fine-tuning, and random networks
# of three initialisations. A network is summarised by its *top units*, the mean over the
# layer's most selective eighth (not its single best unit); the trained networks by their mean
# over the seeds, which each draw resamples too. Each row gives trained − null (the network
# before fine-tuning where there is one, else the random networks' mean) with its 95% interval,
# and each network group's own level.

# %%
wears = ground_truth.glasses_flags(dataset, study.clips)  # None on real data
seed_runs = chapter.seed_runs("faces")
emergence = unit_emergence.emergence(dataset, seed_runs.runs, study, wears, n_boot, seed)
print(emergence.description())
emergence.table().round(4)

# %% [markdown]
# ## 6.5 Figure 10: peaks per layer, and how spiky they are
#
# For every layer, the units' peak histograms summed and pooled to the conv5 grid, as
# heatmaps (share of the layer's peaks per cell). The paper says the histograms get spikier
# with depth. A histogram's entropy (in bits; lower is spikier, a flat histogram has the
# largest) measures it; a layer with few units has fewer peaks and, for that reason alone, a
# lower entropy, so the random network of the same shape, with the same number of peaks per
# layer, is a reference for the counts; the network before fine-tuning, with the same peaks per
# layer too, says whether fine-tuning made the layers spikier than the pretraining left them.

# %%
spikiness = summaries.spikiness_table(study.stats, study.random_stats, study.pretrained_stats)
depth_trend = summaries.depth_trend(spikiness)
print(
    "Spearman correlation of depth with entropy:", {k: round(v, 2) for k, v in depth_trend.items()}
)
spikiness.round(3)

# %% tags=["hide-input"]
unit_panels.layer_peaks(study, spikiness).show()
unit_panels.entropy_by_depth(spikiness, study.stats.grid).show()

# %% [markdown]
# ## 6.6 NetDissect: IoU with each face's own part masks
#
# N' counts one peak per crop on an average face. NetDissect asks more: does the unit's
# region (its upsampled map above its own top 0.5% level) coincide with the part, crop by crop,
# measured against masks drawn from each crop's own landmarks? The threshold and the IoU come
# from the same streaming pass (a per-unit activation histogram, never the activations
# themselves). Below: detectors per part (IoU above 0.04 for the unit's best part), trained
# against the network before fine-tuning (when there is one) and random weights, and how IoU
# relates to N'.

# %%
networks = {
    "trained": study.stats,
    "pretrained": study.pretrained_stats,  # None when trained from random weights
    "random weights": study.random_stats,
}
networks = {name: stats for name, stats in networks.items() if stats is not None}
dissection = netdissect.dissect(networks, study.shares["conv5_3"])
print(
    "Spearman(IoU, N') per part, conv5_3:",
    {k: round(v, 2) for k, v in dissection.agreement.items()},
)
dissection.table()

# %% tags=["hide-input"]
unit_panels.iou_against_n_prime(
    dissection.tables[("conv5_3", "trained")], study.shares["conv5_3"]
).show()

# %% [markdown]
# ## 6.7 Figure 11: glasses
#
# The authors found glasses units by hand among the units that peak on the eyes. On the
# synthetic set whether a face wears glasses is known, so units can be ranked by the share of
# glasses crops among their top N (precision at N) and set against chance: the share of test
# crops with glasses, a hypergeometric p-value, and the chance that *any* of the layer's units
# gets there (the same correction as Table 2). Glasses are a face attribute a face-identity
# network may already encode, so the same count for the network before fine-tuning is the null
# of "learned with fine-tuning", with random weights beside it. On real data there is no label:
# the menu then shows the units that peak most on the eyes, to be inspected by hand as the
# authors did.

# %%
glasses = ground_truth.glasses_units(
    study.stats, study.random_stats, wears, pretrained_stats=study.pretrained_stats
)
print(glasses.description() if glasses else "real data: no glasses labels; see the menu")
glasses.ranked.head(8).round(4) if glasses else None

# %% tags=["hide-input"]
unit_panels.glasses_gallery(study, glasses).show()
if glasses is not None:
    unit_panels.glasses_by_network(glasses).show()

# %% [markdown]
# ## 6.8 Ground truth: do the units that drive a trait carry its planted cue?
#
# Each synthetic label is a known function of the face: extraversion of the mouth's action
# units, conscientiousness mostly of glasses, and so on (chapter 1). A unit's influence on a
# trait is measured through the model itself: DAN+ is linear in the pooled conv5_3 maps, so each
# unit adds a term to each trait's output, and the spread of that term over the test crops says
# how much the unit moves the prediction. For each trait the most influential conv5_3 units are
# taken and compared with random sets of as many units on the trait's dominant planted cue: for
# a face part, the share of their peaks on it; for glasses, the share of glasses crops among
# their top crops (a place on the average face says little about an object some faces lack).
# Where the grid gives the eyebrows no cell of their own (7x7), eyebrows and eyes are one area.
# A trait the model barely learned (test R² below 0.1) has no units that carry it, so it is
# marked not testable rather than failed. On real data there is no planted ground truth.

# %%
cue_check = None
if glasses is not None:  # the synthetic set
    cue_check = ground_truth.planted_cue_check(
        study.trained,
        study.crops,
        study.stats,
        study.masks["conv5_3"],
        glasses,
        run.test.all.metrics["r2"],
        n_permutations=n_permutations,
        seed=seed,
    )
    print(f"Spearman correlation, planted share vs enrichment: {cue_check.spearman:+.2f}")
cue_check.table if cue_check else None

# %% tags=["hide-input"]
if cue_check is not None:
    unit_panels.planted_cue_heatmaps(cue_check).show()

# %% [markdown]
# ## 6.9 Unit explorer
#
# Every conv5_3 unit (up to the `explorer_units` parameter, the ones with the largest N' first)
# and the four units with the largest N' of each other layer: ten top crops, segmented, and
# the unit's peak histogram over the average face. The menu is plotly's own, so it works in
# the static page.

# %% tags=["hide-input"]
unit_panels.explorer(study, unit_study.explorer_units(study, explorer_units)).show()

# %% [markdown]
# In a live kernel (`make lab`) any unit of any layer can be picked below: its top crops with
# their maps, and its N' per face part against the 95th percentile of the units of the network
# before fine-tuning (when there is one) and of the random network (the static book shows
# nothing here).

# %% tags=["hide-input"]
explorers.unit_explorer(study)

# %% [markdown]
# ## 6.10 Check: every test frame with a face
#
# The same measures over all test frames with a face instead of the first one of each clip,
# with N the paper's 50 where that population allows it. Ten frames of one clip show the same
# person a second apart, so a unit's top set fills up with a few clips' near-copies; the
# population is larger but its items are far from independent, which is why the authors'
# one-per-clip population is the headline.

# %%
population_check = unit_study.population_check(study, top_n)
population_check.round(3)

# %% [markdown]
# ## 6.11 A causal test: silence the detectors
# A label says what a unit responds to, not what the model does with it. The units the chapter
# labels as each part's detectors (the conv5_3 units with the largest N' on the part, as many as
# the ground-truth check takes, and the most precise glasses units) are *mean-ablated*, as the
# literature does it: their pooled values are replaced by their mean over the crops, so the
# head still sees a typical value rather than an out-of-distribution zero. Each trait's score
# then moves by some amount over the population's crops (people resampled for the interval).
# The null is `n_permutations` random sets of as many conv5_3 units *matched on mean
# activation* (each labelled unit swapped for a random unit of similar mean activation:
# strongly active units move outputs more whatever they detect); p is the share of random sets
# that move the trait as much, and q is Benjamini-Hochberg over every set and trait. On the
# synthetic set the planted weights say which traits should move when which part's units go;
# their agreement is tested by permuting the traits within each set (the five cells of one set
# share its units, so they are not independent draws).

# %%
ablation, ablation_agreement = unit_ablation.study_ablation(
    study, glasses, dataset.synthetic, n_permutations, n_permutations, seed
)
print(ablation_agreement or "real data: no planted weights to agree with")
ablation.table.round(4)

# %% tags=["hide-input"]
unit_panels.ablation_heatmap(ablation).show()

# %% [markdown]
# ## What held
#
# N' and the layer histograms describe where a unit peaks on aligned faces, and alignment alone
# puts the eyes, nose and mouth in fixed cells: a claim that a detector *emerged* needs the
# trained networks to beat the network they were fine-tuned from, not just a large N'. Every
# emergence claim below reads section 6.4's trained-minus-null differences, with intervals over
# people and fine-tuning seeds, against the network before fine-tuning (a face-pretrained network
# is the fair null; random weights are a straw man), and against random weights only where the
# model was trained from random weights, which their evidence then says. Read them with the
# fair null's own figure above: a pretraining that identifies few held-out people knows little
# about faces, and beating it is a weaker statement than beating VGG-Face. The glasses test has
# the same shape: dark, high-contrast rims excite many random filters, and a face-identity
# network may already encode glasses, so precision at N above chance is not yet evidence of
# learning; and on the synthetic set glasses drive most of conscientiousness, so that glasses
# units exist is a check of the method (planted), not a finding.
#
# Every claim rests on two instruments whose own checks are saved with it: dlib's detection
# rate on the test frames, and the face model's gain over the constant predictor (a model that
# learned nothing has units that say nothing). The ground-truth check asks whether the units
# that move a trait's prediction carry the cue that was planted for that trait; a trait whose
# test R² is below the book's one gate (0.1, as in chapters 5 and 7) is not testable, and at
# the CPU profile's 7x7 grid it cannot tell eyebrows from eyes. A test that misses
# significance is *inconclusive*, with the smallest effect it could have detected, never "did
# not hold". The claims below are judged by the rules of `personality_utils.claims.catalogue` from
# this run's measurements (the summary page judges the same rows from the same record); chapter 7
# asks whether some units detect facial action units. The ablation is the only causal test
# here: a label earns its name if silencing the units that carry it moves the traits whose
# planted cue it is, and moves them more than as many matched random units do.

# %%
instruments = reporting.model_instruments(dataset, {"model gain": run}, seed)
measurements = unit_study.measurements(
    emergence, glasses, cue_check, instruments, reporting.trait_r2(run)
) | ablation.measurements(ablation_agreement)
record = {
    **study.record(),
    "population_check": population_check.to_dict(),
    **unit_study.top5_record(rankings),
    "emerged_units": {layer: emerged.loc[layer].to_dict(orient="index") for layer in study.masks},
    **unit_study.network_record(study, glasses),
    "emergence": emergence.table().to_dict(orient="index"),
    "fair_null_identification": (
        None if backbone is None else pretraining.summary(backbone)["held_out_accuracy"]
    ),
    "layer_entropy": spikiness["trained"].to_dict(),
    "layer_entropy_pretrained": (
        spikiness["pretrained"].to_dict() if "pretrained" in spikiness else None
    ),
    "layer_entropy_random": spikiness["random weights"].to_dict(),
    "entropy_depth_trend": depth_trend,
    **dissection.record(),
    "glasses_precision_at_n": glasses.summary() if glasses else {},
    **(cue_check.record() if cue_check else {}),
    "ablation": ablation.record() | {"planted_agreement": ablation_agreement},
}
claim_rows = chapter.finish(measurements, record)
