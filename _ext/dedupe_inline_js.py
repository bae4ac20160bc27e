"""Drop repeated <script> entries from each page (Sphinx 7.4 emits every inline script that an
extension adds after the builder starts twice: sphinx-doc/sphinx#13402, fixed in Sphinx 8.2, which
Jupyter Book 1.x can't use). The repeated `const THEBE_JS_URL = ...` is a SyntaxError in the
page."""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        key = (
            getattr(script, "filename", script) or "",
            getattr(script, "priority", 500),
            tuple(sorted(getattr(script, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
