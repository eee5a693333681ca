"""The figures a report embeds, as a reader sees them: each shown at its own pixel size (the <img>'s
width is the PNG's and fits the page's column, read from the report's CSS), and every text drawn in
it at least 9 pt at that size and inside the figure (as the Agg renderer drew it while the PNG was
saved)."""

import base64
import re
import struct
from pathlib import Path

from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure

import klvae.figures.png as png

MIN_PT = 9.0
CSS_PX_PER_PT = 96 / 72  # a CSS pixel is 1/96 inch, a point 1/72 inch


def record_figures(monkeypatch) -> dict[bytes, tuple[str, list[tuple[str, float, bool]]]]:
    """{PNG bytes: (file name, [(text, size in image pixels, whether it lies inside the figure) of
    every text drawn])} of each PNG the figure layer writes from now on."""
    drawn: dict[bytes, tuple[str, list[tuple[str, float, bool]]]] = {}
    saving: list[list[tuple[str, float, bool]]] = []
    savefig, draw_text, write = Figure.savefig, RendererAgg.draw_text, png.atomic_write_bytes

    def draw_text_(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if saving:
            box = mtext.get_window_extent(self) if mtext is not None else None
            inside = box is None or (
                -1 <= box.x0 and box.x1 <= self.width + 1 and -1 <= box.y0 and box.y1 <= self.height + 1
            )
            saving[-1].append((s, prop.get_size_in_points() * self.dpi / 72, inside))
        return draw_text(self, gc, x, y, s, prop, angle, ismath, mtext)

    def savefig_(self, *args, **kw):
        saving.append([])
        return savefig(self, *args, **kw)

    def write_(path, data):
        drawn[data] = (Path(path).name, saving.pop() if saving else [])
        return write(path, data)

    monkeypatch.setattr(RendererAgg, "draw_text", draw_text_)
    monkeypatch.setattr(Figure, "savefig", savefig_)
    monkeypatch.setattr(png, "atomic_write_bytes", write_)
    return drawn


def check_shown_at_size(doc: str, drawn: dict) -> list[str]:
    """Assert that each PNG `doc` embeds is shown at its own width, within the page's column, with
    no text under `MIN_PT` as shown; returns the file names checked, in the report's order."""
    column = float(re.search(r"body \{[^}]*?max-width: (\d+(?:\.\d+)?)px", doc)[1])
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)"([^>]*)>', doc)
    assert images, "the report embeds no PNG"
    names = []
    for data, attributes in images:
        raw = base64.b64decode(data)
        width, height = struct.unpack(">II", raw[16:24])  # the PNG header's size in pixels
        shown = re.search(r'width="(\d+)" height="(\d+)"', attributes)
        assert raw in drawn, "an embedded PNG the figure layer did not write"
        name, texts = drawn[raw]
        assert shown and (int(shown[1]), int(shown[2])) == (width, height), (name, attributes, width, height)
        assert width <= column, f"{name} is {width} px wide: the {column:g} px column would shrink it"
        scale = min(width, column) / width  # the browser's: 1 when shown at its size
        small = [(t, round(px * scale / CSS_PX_PER_PT, 2)) for t, px, _ in texts if t.strip()]
        small = [(t, pt) for t, pt in small if pt < MIN_PT]
        assert not small, f"{name}: texts under {MIN_PT:g} pt as shown: {small[:5]}"
        cut = [t for t, _, inside in texts if t.strip() and not inside]
        assert not cut, f"{name}: texts cut by the figure's edge: {cut[:5]}"
        assert any(t.strip() for t, *_ in texts), f"{name}: no text seen"  # every figure has its heading
        names.append(name)
    return names
