"""Pages generated from the code at build time, the gallery's figure scraper, and offline MathJax.

- ``api/``: one page per layer, listing the layer package's ``__all__`` in an autosummary table,
  and the names ``import klvae`` gives (read from ``klvae._EXPORTS``): a new public name appears
  here without anyone editing the docs.
- ``cli.rst``: the help of ``klvae`` and of each subcommand, from ``klvae.cli.build_parser``.
- ``benchmarks.rst``: ``benchmarks/README.md`` turned into reStructuredText (one source).
- the gallery's examples draw on `matplotlib.figure.Figure` objects (never pyplot); the scraper
  takes each new Figure in an example's globals, and each new PNG file a ``pathlib.Path`` there
  names, as that code block's images.
- Debian's MathJax 2 (``libjs-mathjax``) is copied into ``_build/html/_static/mathjax``.
"""

from __future__ import annotations

import re
import shutil
from importlib import import_module
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent

LAYERS = [
    ("measures", "Measures", "The maths on arrays, distributions and samples."),
    ("experiments", "Experiments", "The theory's claims as computations: Gaussian fits, gradient estimators."),
    ("data", "Data", "Data sets by name or path, and readers that check files before trusting them."),
    ("training", "Training", "The one training loop and what it stands on."),
    ("figures", "Figures", "Every PNG and the report (object-oriented Matplotlib)."),
    ("vae", "VAE", "The variational autoencoder family: models, objectives, evaluation."),
    ("gan", "GAN", "The GAN min-max game: losses, theory, networks, mode coverage."),
    ("runs", "Runs", "Jobs that write a run folder."),
    ("cli", "Command line", "The ``klvae`` command's entry points (the commands: :doc:`/cli`)."),
]


# a layer page in more than one table: (heading, the modules whose names it lists), after the
# table of the layer's other names
SECTIONS = {
    "figures": [
        (
            "Experiment figures",
            "The figures of the experiments and of the theory, as ``klvae`` commands draw them.",
            ("klvae.figures.experiments", "klvae.figures.gan_theory", "klvae.figures.integrands"),
        )
    ],
}


def _write(path: Path, text: str) -> None:
    """Write only when the text changed, so Sphinx's incremental build stays incremental."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def api_pages() -> None:
    import klvae

    out = DOCS / "api"
    toc = "\n".join(f"   {layer}" for layer, _, _ in LAYERS)
    rows = []
    for package, names in klvae._EXPORTS.items():
        for name in names:
            rows.append(f"   * - :obj:`klvae.{name} <{package}.{name}>`\n     - :mod:`{package}`")
    index = (
        _title("API reference")
        + "\n"
        + "Every public name, one page each, grouped by layer from the bottom up; each layer imports only\n"
        + "those below it. The tables are read from each package's ``__all__``.\n\n"
        + f".. toctree::\n   :maxdepth: 1\n\n{toc}\n\n"
        + _title("The names ``import klvae`` gives", "-")
        + "\n``import klvae`` is instant: each name's layer is imported on first use.\n\n"
        + ".. list-table::\n   :header-rows: 1\n   :widths: 50 50\n\n"
        + "   * - name\n     - defined in\n"
        + "\n".join(rows)
        + "\n"
    )
    _write(out / "index.rst", index)
    for layer, title, blurb in LAYERS:
        module = import_module(f"klvae.{layer}")
        sections = SECTIONS.get(layer, [])
        owned = [[n for n in module.__all__ if _defined_in(module, n) in where] for _, _, where in sections]
        rest = [n for n in module.__all__ if not any(n in names for names in owned)]
        tables = [("Public names", "", rest)] + [(h, text, names) for (h, text, _), names in zip(sections, owned)]
        page = (
            _title(f"{title}: ``klvae.{layer}``")
            + f"\n{blurb}\n\n"
            + f".. automodule:: klvae.{layer}\n   :no-members:\n\n"
            + f".. currentmodule:: klvae.{layer}\n\n"
        )
        for heading, text, names in tables:
            listed = "\n".join(f"   {name}" for name in names)
            page += (
                _title(heading, "-")
                + (f"\n{text}\n" if text else "")
                + f"\n.. autosummary::\n   :toctree: generated/\n   :nosignatures:\n\n{listed}\n\n"
            )
        _write(out / f"{layer}.rst", page.rstrip("\n") + "\n")


def _defined_in(package, name: str) -> str:
    """The module that defines a package's public name (the package itself for constants)."""
    return getattr(getattr(package, name), "__module__", None) or package.__name__


def cli_page() -> None:
    from klvae.cli import build_parser

    parser, commands = build_parser()
    parser.prog = "klvae"

    def block(text: str) -> str:
        return ".. code-block:: text\n\n" + "\n".join(f"   {line}".rstrip() for line in text.splitlines()) + "\n"

    parts = [
        _title("Command-line reference"),
        "\nEach section is the command's ``--help``, generated from the parser at build time.\n\n",
        ".. contents:: Commands\n   :local:\n   :depth: 1\n\n",
        _title("klvae", "-"),
        "\n",
        block(parser.format_help()),
    ]
    for name, sub in commands.items():
        parts += ["\n", _title(f"klvae {name}", "-"), "\n", block(sub.format_help())]
    _write(DOCS / "cli.rst", "".join(parts))


def validation_exclusions(modules: list[str]) -> list[str]:
    """numpydoc exclusion patterns for the public names documented from these modules or packages.

    Names are documented under their layer package (``klvae.vae.VAE``), so a module's names are
    found by where each of the layer's public objects is defined."""
    patterns = []
    for layer, _, _ in LAYERS:
        package = import_module(f"klvae.{layer}")
        for name in package.__all__:
            obj = getattr(package, name)
            where = getattr(obj, "__module__", None) or package.__name__  # constants: the package
            if isinstance(obj, type(package)):
                where = obj.__name__
            constant = not callable(obj) and not isinstance(obj, type(package))
            if constant or any(where == m or where.startswith(m + ".") for m in modules):
                # constants: their "docstring" is a #: comment, not numpydoc's business
                patterns.append("^" + re.escape(f"klvae.{layer}.{name}") + r"(\.|$)")
        if any(package.__name__ == m or package.__name__.startswith(m + ".") for m in modules):
            patterns.append("^" + re.escape(package.__name__) + "$")
    return patterns


# --------------------------------------------------------------------------- Markdown → rst

_INLINE = re.compile(r"(`+)(.+?)\1|\[([^\]]+)\]\(([^)]+)\)|\*\*(.+?)\*\*")
_SPECIAL = re.compile(r"([\\*`|_<>\[\]])")


def _escape(text: str) -> str:
    return _SPECIAL.sub(r"\\\1", text)


def _inline(text: str) -> str:
    """Markdown inline code, links and bold → rst; everything else escaped literally."""
    out, pos = [], 0

    def markup(token: str, start: int, end: int) -> str:
        # inline markup needs a non-word character on each side: an escaped space is one
        before = "\\ " if start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_") else ""
        after = "\\ " if end < len(text) and (text[end].isalnum() or text[end] == "_") else ""
        return before + token + after

    for m in _INLINE.finditer(text):
        out.append(_escape(text[pos : m.start()]))
        code, label, target, bold = m.group(2), m.group(3), m.group(4), m.group(5)
        if code is not None:
            code = code.strip()
            token = ":code:`" + code.replace("\\", "\\\\").replace("`", "\\`") + "`"
            out.append(markup(token, m.start(), m.end()))
        elif label is not None:
            if target.startswith("http"):
                out.append(markup(f"`{_escape(label)} <{target}>`__", m.start(), m.end()))
            else:
                out.append(_inline(label))  # a link inside the Markdown file or the repository
        else:
            out.append(markup(f"**{_escape(bold)}**", m.start(), m.end()))
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


def _table(lines: list[str]) -> str:
    def cells(line: str) -> list[str]:
        line = line.strip().strip("|")
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)]

    header, body = cells(lines[0]), [cells(line) for line in lines[2:]]
    rows = [header, *body]
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        row = row + [""] * (len(header) - len(row))
        for i, cell in enumerate(row[: len(header)]):
            text = _inline(cell) if cell else ".."
            out.append(f"   {'* -' if i == 0 else '  -'} {text}")
    return "\n".join(out) + "\n"


def markdown_to_rst(text: str, top: str) -> str:
    """The subset of Markdown benchmarks/README.md uses: headings, paragraphs, lists, pipe tables,
    fenced code blocks, inline code, links and bold."""
    lines, out, i = text.splitlines(), [], 0
    marks = {1: "=", 2: "-", 3: "~", 4: "^"}
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while not lines[j].startswith("```"):
                j += 1
            out += ["", ".. code-block:: text", ""] + [f"   {x}".rstrip() for x in lines[i + 1 : j]] + [""]
            i = j + 1
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            heading = top if level == 1 else _inline(line[level:].strip())
            out += ["", heading, marks[level] * max(len(heading), 4), ""]
            i += 1
        elif line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|?\s*$", lines[i + 1]):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out += ["", _table(lines[i:j]), ""]
            i = j
        elif re.match(r"^\s*[-*] ", line):
            out.append("- " + _inline(re.sub(r"^\s*[-*] ", "", line)))
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                out.append("  " + _inline(lines[i].strip()))
                i += 1
            if i < len(lines) and lines[i].strip():
                out.append("")
        else:
            out.append(_inline(line) if line.strip() else "")
            i += 1
    return "\n".join(out) + "\n"


def benchmarks_page() -> None:
    source = ROOT / "benchmarks" / "README.md"
    body = markdown_to_rst(source.read_text(), "Benchmarks")
    intro = (
        "\n*This page is* ``benchmarks/README.md`` *of the repository, converted at build time: the tables\n"
        "live in one place.*\n\n"
    )
    head, _, rest = body.lstrip().partition("\n")
    underline, _, rest = rest.partition("\n")
    _write(DOCS / "guide" / "benchmarks.rst", ".. _benchmarks:\n\n" + head + "\n" + underline + "\n" + intro + rest)


# --------------------------------------------------------------------------- plain-text docstrings

# klvae's docstrings write maths as plain text: |x − y| is an absolute value, not an rst
# substitution, and a lone * (``*shape``, a·b*) is not emphasis. Outside literals, interpreted
# text and doctests, such characters are escaped before numpydoc reads the docstring.
_LITERAL = re.compile(r"(``.+?``|:[\w:]+:`[^`]+`|`[^`]+`_{0,2})")
_STAR_PAIR = re.compile(r"(\*\*[^*\s](?:[^*]*?[^*\s])?\*\*|\*[^*\s](?:[^*]*?[^*\s])?\*)")
_BORDER = re.compile(r"^(\s*)(=+)((?: +=+)+)\s*$")


def _escape_text(segment: str) -> str:
    segment = segment.replace("|", "\\|")
    parts = _STAR_PAIR.split(segment)
    return "".join(part if i % 2 else part.replace("*", "\\*") for i, part in enumerate(parts))


def _escape_line(line: str) -> str:
    parts = _LITERAL.split(line)
    for i in range(1, len(parts), 2):  # markup glued to a word or an opening bracket: an escaped space
        if parts[i + 1][:1].isalnum() or parts[i + 1][:1] in ("(", "[", "{"):  # a tuple: "", the line's end, is in every string
            parts[i] += "\\ "
        if parts[i - 1][-1:].isalnum():
            parts[i] = "\\ " + parts[i]
    return "".join(part if i % 2 else _escape_text(part) for i, part in enumerate(parts))


def _widen_tables(lines: list[str]) -> list[str]:
    """A simple table whose first column's text overruns its border gets the border widened."""
    out = list(lines)
    borders = [i for i, line in enumerate(lines) if _BORDER.match(line)]
    for a, b in zip(borders[::3], borders[2::3]):
        indent, first = _BORDER.match(lines[a]).group(1), _BORDER.match(lines[a]).group(2)
        width = len(first)
        rows = [i for i in range(a + 1, b) if lines[i].strip() and i not in borders]
        cells = [re.split(r"\s{2,}", lines[i][len(indent) :], maxsplit=1) for i in rows]
        need = max([len(c[0]) for c in cells] + [width])
        if need == width:
            continue
        for i in (a, borders[borders.index(a) + 1], b):
            out[i] = lines[i].replace(first, "=" * need, 1)
        for i, c in zip(rows, cells):
            out[i] = indent + c[0].ljust(need) + "  " + (c[1] if len(c) > 1 else "")
    return out


def plain_text_docstring(app, what, name, obj, options, lines) -> None:
    if not name.startswith("klvae"):
        return
    in_doctest, literal_indent = False, None
    for i, line in enumerate(lines):
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not stripped or indent > literal_indent:
                continue
            literal_indent = None
        if stripped.startswith(">>>"):
            in_doctest = True
        if in_doctest:
            in_doctest = bool(stripped)
            continue
        lines[i] = _escape_line(line)
        if stripped.endswith("::"):
            literal_indent = indent
    lines[:] = _widen_tables(lines)


# --------------------------------------------------------------------------- gallery figures

_SEEN: set = set()


def scrape_figures(block, block_vars, gallery_conf, **kwargs):
    """sphinx-gallery image scraper: new Figures and new PNG files named in the example's globals."""
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    images = []
    for value in list(block_vars["example_globals"].values()):
        if isinstance(value, Figure) and id(value) not in _SEEN:
            _SEEN.add(id(value))
            target = next(block_vars["image_path_iterator"])
            value.savefig(target, dpi=value.dpi)
            images.append(target)
        elif isinstance(value, Path) and value.suffix == ".png" and value.exists():
            key = (str(value.resolve()), value.stat().st_mtime_ns)
            if key not in _SEEN:
                _SEEN.add(key)
                target = next(block_vars["image_path_iterator"])
                shutil.copyfile(value, target)
                images.append(target)
    return figure_rst(images, gallery_conf["src_dir"])


# --------------------------------------------------------------------------- MathJax

_MATHJAX_PARTS = [
    "MathJax.js",
    "config/TeX-AMS_CHTML.js",
    "extensions",
    "jax/input/TeX",
    "jax/output/CommonHTML",
    "jax/element",
    "fonts/HTML-CSS/TeX/woff",
    "fonts/HTML-CSS/TeX/otf",
    "localization/en",
]


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = Path(app.config.MATHJAX_SOURCE)
    if not (source / "MathJax.js").exists():
        raise RuntimeError(f"MathJax not found in {source}: apt-get install libjs-mathjax, or set KLVAE_MATHJAX_DIR")
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        src, dst = source / part, target / part
        if not src.exists():
            continue
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


def resolve_short_names(app, env, node, contnode):
    """``klvae.kl_divergence`` (the name users import) and ``klvae.vae.model.VAE`` (where it is
    defined) both mean the object documented as ``klvae.measures.kl_divergence``/``klvae.vae.VAE``."""
    import klvae

    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("klvae."):
        return None
    parts = target.split(".")
    candidates = []
    if len(parts) == 2 and parts[1] in klvae._LAZY.where:
        candidates.append(f"{klvae._LAZY.where[parts[1]]}.{parts[1]}")
    if len(parts) >= 4:  # klvae.<layer>.<module>.<Name>[.<member>]
        candidates += [".".join(parts[:2] + parts[k:]) for k in range(3, len(parts))]
    domain = env.get_domain("py")
    for candidate in candidates:
        node["reftarget"] = candidate
        found = domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode)
        if found is not None:
            return found
    node["reftarget"] = target
    return None


def generate(app, config=None) -> None:
    api_pages()
    cli_page()
    benchmarks_page()


def setup(app):
    app.add_config_value("MATHJAX_SOURCE", "/usr/share/javascript/mathjax", "env")
    app.connect("autodoc-process-docstring", plain_text_docstring, priority=100)  # before numpydoc
    app.connect("config-inited", generate)
    app.connect("missing-reference", resolve_short_names)  # before the sources are found
    app.connect("build-finished", copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
