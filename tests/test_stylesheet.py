"""The shipped stylesheet against the templates: every Bootstrap class they use is in the subset
`make css` cuts (CI also checks the subset is exactly what `make css` makes), and no inline style
(the CSP allows only the shop's own stylesheets)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STYLESHEETS = [
    ROOT / "static" / "vendor" / "bootstrap" / "bootstrap.subset.min.css",
    ROOT / "static" / "css" / "shop.css",
]
# Every class Bootstrap defines, written by `make css` beside its inputs.
BOOTSTRAP_CLASSES = ROOT / "tools" / "css" / "bootstrap-classes.txt"
CLASS_ATTRIBUTE = re.compile(r"""\bclass=(?:"([^"]*)"|'([^']*)')""")
WORD = re.compile(r"-?[A-Za-z_][\w-]*")
COMMENT = re.compile(r"/\*.*?\*/", re.S)
DECLARATIONS = re.compile(r"\{[^{}]*\}")
CLASS_SELECTOR = re.compile(r"\.(-?[A-Za-z_][\w-]*)")


def classes_in_template(text: str) -> set[str]:
    """Every word of every class attribute, Jinja expressions included (a class chosen by an
    `if` is a word in a string literal there)."""
    return {
        word
        for match in CLASS_ATTRIBUTE.finditer(text)
        for word in WORD.findall(match.group(1) or match.group(2) or "")
    }


def classes_defined(css: str) -> set[str]:
    """The classes a stylesheet's selectors name."""
    selectors = DECLARATIONS.sub("\n", COMMENT.sub("", css))
    return set(CLASS_SELECTOR.findall(selectors))


def missing_classes(
    templates: dict[str, str], stylesheet: str, bootstrap: set[str]
) -> dict[str, list[str]]:
    """Bootstrap classes the templates use and the stylesheet lacks, with where each is used.
    Classes Bootstrap does not define are the shop's own hooks (for scripts and tests)."""
    defined = classes_defined(stylesheet)
    missing: dict[str, list[str]] = {}
    for name, text in sorted(templates.items()):
        for word in sorted(classes_in_template(text) & bootstrap - defined):
            missing.setdefault(word, []).append(name)
    return missing


def shop_templates() -> dict[str, str]:
    # The pages' templates: emails (templates/mail/) style themselves inline, as mail must.
    return {
        path.relative_to(TEMPLATES).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(TEMPLATES.rglob("*"))
        if path.is_file() and path.relative_to(TEMPLATES).parts[0] != "mail"
    }


def shipped_stylesheet() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in STYLESHEETS)


def bootstrap_classes() -> set[str]:
    return set(BOOTSTRAP_CLASSES.read_text(encoding="utf-8").split())


def test_every_bootstrap_class_the_templates_use_is_in_the_shipped_stylesheet() -> None:
    missing = missing_classes(shop_templates(), shipped_stylesheet(), bootstrap_classes())
    assert not missing, "run `make css` and commit: the stylesheet lacks " + "; ".join(
        f"{word} (used in {', '.join(where)})" for word, where in missing.items()
    )


def test_the_check_fails_for_a_template_using_a_class_the_stylesheet_lacks() -> None:
    templates = {
        **shop_templates(),
        "new.html": "<div class=\"accordion {{ 'visually-hidden' if x }}\">",
    }
    missing = missing_classes(templates, shipped_stylesheet(), bootstrap_classes())
    assert missing == {"accordion": ["new.html"]}


def test_the_shipped_stylesheet_is_a_subset_of_bootstrap() -> None:
    # A stylesheet with Bootstrap's components but none of its unused ones.
    bootstrap = bootstrap_classes()
    used = set().union(*map(classes_in_template, shop_templates().values()))
    subset = classes_defined(STYLESHEETS[0].read_text(encoding="utf-8"))
    assert len(bootstrap) > 1500
    assert subset <= bootstrap
    assert "accordion" not in subset and "carousel" not in subset
    assert len(subset) < len(bootstrap) / 5
    assert used & bootstrap <= subset


def test_no_template_styles_inline() -> None:
    # The CSP's style-src 'self' would block them: a style attribute or element shows unstyled.
    for name, text in shop_templates().items():
        assert not re.search(r"\sstyle\s*=", text), name
        assert "<style" not in text, name


def test_pages_link_only_the_shipped_stylesheets() -> None:
    base = (TEMPLATES / "base.html").read_text(encoding="utf-8")
    linked = re.findall(
        r"<link rel=\"stylesheet\" href=\"\{\{ url_for\('static', filename='([^']+)'\)", base
    )
    assert [ROOT / "static" / name for name in linked] == STYLESHEETS
