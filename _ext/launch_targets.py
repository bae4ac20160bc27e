"""The launch buttons' repository and targets (_config.yml's `launch_buttons` and `repository`).

The repository's address comes from ``$BOOK_REPOSITORY_URL`` (the Makefile exports it; empty by
default) or else `repository.url`. Without one the book gets no launch buttons: Jupyter Book would
otherwise fill in its own default repository (executablebooks/jupyter-book) and the buttons would
open someone else's files.

Binder keeps Jupyter Book's target, `book/<chapter>.ipynb` on `repository.branch`: those
notebooks are not committed, so the repository's `postBuild` writes them from notebooks/*.py
(jupytext) when Binder builds the image. Colab opens only `.ipynb` files that exist on GitHub, so
its button is pointed at the executed chapter that the published site carries,
`_sources/book/<chapter>.ipynb` on the branch the site is published from
(``launch_colab_branch``, default ``gh-pages``: what `ghp-import -n -p -f _build/html` pushes).
"""

import os

#: Jupyter Book 1.x's default `repository.url`, never the book's own.
JUPYTER_BOOK_DEFAULT = "https://github.com/executablebooks/jupyter-book"


def _choose_repository(app, config):
    options = config.html_theme_options
    url = os.environ.get("BOOK_REPOSITORY_URL", "").strip() or options.get("repository_url", "")
    if not url or url.rstrip("/") == JUPYTER_BOOK_DEFAULT:
        options.pop("launch_buttons", None)
        options["repository_url"] = ""
        return
    options["repository_url"] = url.rstrip("/")


def _colab_target(app, pagename, templatename, context, doctree):
    options = app.config.html_theme_options
    url = options.get("repository_url", "")
    colab = options.get("launch_buttons", {}).get("colab_url", "").rstrip("/")
    if not (url and colab and "github.com/" in url):
        return
    org, repo = url.split("github.com/")[-1].split("/")[:2]
    target = f"{colab}/github/{org}/{repo}/blob/{app.config.launch_colab_branch}/_sources/"
    for group in context.get("header_buttons", []):
        for button in group.get("buttons", []) if group.get("label") == "launch-buttons" else []:
            if button.get("text") == "Colab":
                button["url"] = f"{target}{pagename}.ipynb"


def setup(app):
    app.add_config_value("launch_colab_branch", "gh-pages", "html")
    app.connect("config-inited", _choose_repository)
    app.connect("html-page-context", _colab_target, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
