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
# # 8. What held: the paper's claims against ours
#
# **The question.** Which of the paper's claims hold, on the data this book ran on, and which
# could not be tested?
#
# **The paper's claims** are those of chapters 3 to 7, each with the paper's figure (Table 1,
# the face share of the CAM maps and their overlap with the face, Table 2, the AU model).
#
# **Method.** Every chapter ends by saving its headline figures and the measurements its
# claims rest on to `book/results/<chapter>.json`, together with the profile and the data that
# produced them, and by judging its own claims. This page reads those files, and only those: it
# trains nothing and types no result in. It judges every claim again with the same rules from
# the same saved measurements (`personality_utils.claims.catalogue`), so each row here is the row
# its chapter printed: for each claim of the paper (and each check this book adds) the paper's
# figure beside ours and beside the baseline that the claim must beat on the same data, the
# rule, and the verdict.
#
# **How to read it.** Every row carries its evidence as data (an estimate with its 95% interval,
# or a test's p and q; the bar it is judged against; the smallest effect of interest; the
# instruments it rests on), and one function derives the verdict from those fields
# (`personality_utils.core.verdicts.derive`), with one meaning everywhere:
#
# * *held*: the evidence shows the claimed effect (the interval lies past the bar, or q < 0.05);
# * *did not hold*: the evidence shows its absence or its opposite (the interval lies on the
#   wrong side of the bar, or inside the margin of no effect of interest);
# * *inconclusive*: neither; a test that misses significance is inconclusive, never "did not
#   hold", and its row gives the smallest effect it could have detected;
# * *not testable here*: no data, or an instrument the claim rests on failed its own check (the
#   AU source against the planted AUs, dlib's detection rate, the model's gain over the
#   constant, a trait's test R² below 0.1); the row names the instrument and its figure.
#
# The paper's figures come from the real First Impressions test set. Ours come from whatever data
# each chapter ran on, named in every row. Rows are of three kinds, counted apart: a *finding*
# (nothing the generator planted decides it), a *check of the method (planted)* (on the
# synthetic set the generator's planted weights decide its answer, computed from them: it says
# whether a method recovers a cause known to be there, not what the paper's network does on real
# people) and a *check of an instrument*. A chapter that has not been run shows its rows as
# "not run".

# %% tags=["parameters"]
profile = "default"  # the profile the chapters are expected to have run with (checked below)
data_root = None  # unused: the summary reads the chapters' results, which name their own data
device = "auto"  # unused (nothing is computed on a device here)
seed = 0  # unused; kept so that all notebooks share parameters

# %%
import pandas as pd

from personality_utils.book import summary
from personality_utils.core import files, profiles, results
from personality_utils.figures import plots, tables

plots.setup()
pd.set_option("display.max_colwidth", None)
settings = profiles.get_profile(profile)
chapters = summary.load_chapters()
sources = summary.provenance(chapters, profile=settings.name)
print(f"results read from {files.shown_path(results.results_dir())}")
print("\n".join(summary.provenance_notes(sources, settings.name)))
sources.fillna("—")

# %% [markdown]
# ## 8.1 Table 1
#
# The paper's three rows, then ours: DAN+ on full frames (chapter 3), DAN+ on aligned faces
# (chapter 4) and the constant predictor that outputs the training mean (chapter 1), on the test
# split of the data named in the `source` column. Hatched bars are the paper's. Compare our rows
# with each other and with our constant, not with the paper's figures, unless the source is the
# real dataset.

# %%
table1 = summary.table1_rows(chapters)
table1.round(4).fillna("—")

# %% tags=["hide-input"]
tables.table1_figure(table1).show()

# %% [markdown]
# ## 8.2 The claims, one by one
#
# `paper` is the paper's figure (for the AU model's share of the CNN's gain it is computed from
# the paper's figures and the real-data constant, which the paper does not report). `ours` is
# the same quantity on our data, `baseline` what the rule compares it with, `rule` what decides
# the verdict.

# %%
records = summary.evaluate_claims(chapters)
summary.reading_counts(records)

# %%
summary.claims_frame(records)

# %% [markdown]
# The numbers behind each verdict, and the profile of the run they come from:

# %%
print("\n".join(summary.evidence_lines(records, width=80)))

# %% [markdown]
# The figure shows the claims whose figures are shares or accuracies (the AU model's share of
# the CNN's gain can leave 0–1: above 1 when AUs alone beat the CNN); ours is green where the
# claim held, red where it did not, orange where the data could not decide and grey where it
# could not be tested or the chapter has not run. Hover a bar for the numbers behind it.

# %% tags=["hide-input"]
tables.claims_figure(records).show()

# %% [markdown]
# ## 8.3 The paper's instrument against the causal tests
#
# The paper reads where the model looks from the CAM's overlap with the face box. Chapter 5 also
# asks the model itself, by hiding regions and watching the outputs. Where the two answer the
# same question differently, the ground truth of the synthetic set says which one to believe
# (on real data nothing can):

# %%
print("\n".join(summary.disagreements(records, chapters)))

# %% [markdown]
# How much of each trait's planted signal a model can read outside the face: through the poster,
# and through who the person is (glasses are drawn per person, with the person's room and shirt,
# which recur across the splits as people do in First Impressions). Only traits with little of
# either count as face-driven in chapter 5's causal tests.

# %%
summary.outside_face_table(chapters)

# %% [markdown]
# ## 8.4 Which explanation can you trust?
#
# Chapter 5b puts the paper's instrument beside seven other attribution methods and scores all
# of them against the causes the generator planted. Its verdict rows (the leaderboard itself,
# per trait, is in that chapter):

# %%
summary.claims_frame([row for row in records if row["chapter"] == "05b_attribution"])

# %% [markdown]
# ## What held
#
# Every row above is recomputed from the chapters' results whenever this page is built, so it
# follows the data: on the synthetic set it says which of the paper's methods recover causes
# that were planted on purpose (and which are fooled by the alignment of the faces or by where
# faces sit in a frame); pointed at the real First Impressions release with the `paper` profile
# (see "Run it on the real dataset"), the same rows become a reproduction of the paper's figures.
# Claims the book cannot test (there is no audio model) say so instead of guessing. The page's
# own results file keeps the rows, where each chapter's results came from, and Table 1.

# %%
saved = results.save_results(
    "08_summary",
    summary.summary_record(records, sources, table1, chapters),
    profile=settings.name,
    data=summary.summary_data(chapters),
)
print(f"saved {files.shown_path(saved)}")
