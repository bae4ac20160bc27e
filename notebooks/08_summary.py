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
# # 8. What held: the paper's claims against ours
#
# **Overview.** Every chapter ends by saving its headline figures to `book/results/<chapter>.json`
# together with the profile and the data that produced them. This page reads those files, and
# only those: it trains nothing and types no result in. For each claim of the paper (and for
# the checks this book adds, marked "book check") it sets the paper's figure beside ours and
# beside the baseline that the claim must beat on the same data, and says whether the claim
# held by a rule stated in the claim itself. The rules live in one table,
# `personality_utils.summary.CLAIMS`, so they can be read and tested apart from this page.
#
# **How to read it.** The paper's figures come from the real First Impressions test set. Ours
# come from whatever data each chapter ran on, named in every row: on the synthetic
# planted-signal set they say whether a *method* recovers a cause that is known to be there, not
# what the paper's network does on real people. A chapter that has not been run shows its rows
# as "not run"; a results file that lacks what a claim reads shows "incomplete".

# %% tags=["parameters"]
profile = "default"  # the profile the chapters are expected to have run with (checked below)
data_root = None  # unused: the summary reads the chapters' results, which name their own data
device = "auto"  # unused (nothing is computed on a device here)
seed = 0  # unused; kept so that all notebooks share parameters

# %%
import textwrap

import pandas as pd
from IPython.display import display

from personality_utils import plots, profiles, results, summary

plots.setup()
pd.set_option("display.max_colwidth", None)
settings = profiles.get_profile(profile)
chapters = summary.load_chapters()
sources = summary.provenance(chapters, profile=settings.name)
print(f"results read from {results.results_dir()}")
not_run = sources.index[sources["status"] != "run"].tolist()
other_profile = sources.index[sources["same profile"].eq(False)].tolist()
if not_run:
    print(f"not run yet: {', '.join(not_run)} (their claims are listed as 'not run')")
if other_profile:
    print(
        f"run with another profile than '{settings.name}': {', '.join(other_profile)} "
        "(their rows say which)"
    )
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
summary.table1_figure(table1).show()
table1.round(4).fillna("—")

# %% [markdown]
# ## 8.2 The claims, one by one
#
# `paper` is the paper's figure (for the AU model's share of the CNN's gain it is computed from
# the paper's 0.886 and 0.912 and the real-data constant 0.8814, which the paper does not
# report). `ours` is the same quantity on our data, `baseline` what an uninformed model or a
# random network scores there, and `held?` applies the rule written in the claim.

# %%
records = summary.evaluate_claims(chapters)
counts = pd.Series([record["status"] for record in records]).value_counts()
print(", ".join(f"{status}: {count}" for status, count in counts.items()))
summary.claims_frame(records)

# %% [markdown]
# The numbers behind each decision, and the profile of the run they come from:

# %%
for line in summary.evidence_lines(records):
    print(textwrap.fill(line, width=80, subsequent_indent="    "))

# %% [markdown]
# The figure shows the claims whose figures are shares or accuracies (the AU model's share of
# the CNN's gain can leave 0–1: above 1 when AUs alone beat the CNN); ours is green where the
# claim held, red where it did not and grey where it could not be tested or the chapter has not
# run. Hover a bar for the numbers behind the decision.

# %%
summary.claims_figure(records).show()

# %% [markdown]
# ## 8.3 What each chapter concluded
#
# Chapters that save their own verdicts in their results file state finer claims than the table
# above, each with its evidence, computed in the chapter from the same run.

# %%
verdicts = summary.chapter_verdicts(chapters)
if len(verdicts):
    display(verdicts.set_index("chapter"))
else:
    print("no chapter has saved verdicts yet")

# %% [markdown]
# ## Summary
#
# Every row above is recomputed from the chapters' results whenever this page is built, so it
# follows the data: on the synthetic set it says which of the paper's methods recover causes
# that were planted on purpose (and which are fooled by the alignment of the faces or by where
# faces sit in a frame); pointed at the real First Impressions release with the `paper` profile
# (see "Run it on the real dataset"), the same rows become a reproduction of the paper's figures.
# Claims the book cannot test (there is no audio model) say so instead of guessing.
#
# ## Results

# %%
record = {
    "claims": [
        {
            key: item[key]
            for key in (
                "key",
                "claim",
                "paper",
                "ours",
                "baseline",
                "baseline_kind",
                "held",
                "status",
                "evidence",
                "chapter",
                "profile",
                "data",
            )
        }
        for item in records
    ],
    "chapters": sources.reset_index().to_dict(orient="records"),
    "chapter_verdicts": verdicts.to_dict(orient="records"),
    "table1": {name: row.to_dict() for name, row in table1.iterrows()},
    "status_counts": counts.to_dict(),
}
saved = results.save_results(
    "08_summary", record, profile=settings.name, data=summary.summary_data(chapters)
)
print(f"saved {saved}")
