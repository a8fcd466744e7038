"""Render resources/icons/rxbench.svg into the PNG sizes and the Windows .ico the builds use.

Run after editing the SVG, then commit the generated files:
    .venv/bin/python installer/make_icons.py
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from PIL import Image

ICONS_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG_PATH = ICONS_DIR / "rxbench.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256)
# The sizes Windows picks from for the taskbar, title bar, Explorer and the installer wizard.
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)


def render_png(svg_path: Path, size: int) -> bytes:
    """Render the SVG at size×size with Qt's SVG renderer and return PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg_path))
    if not renderer.isValid():
        raise SystemExit(f"{svg_path} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def main() -> int:
    # Rendering needs a Qt GUI application but never a screen.
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    rendered: dict[int, Image.Image] = {}
    for size in sorted(set(PNG_SIZES) | set(ICO_SIZES)):
        png = render_png(SVG_PATH, size)
        image = Image.open(io.BytesIO(png)).convert("RGBA")
        rendered[size] = image
        if size in PNG_SIZES:
            target = ICONS_DIR / f"rxbench-{size}.png"
            image.save(target, optimize=True)
            print(target.relative_to(ICONS_DIR.parent.parent))
    # Each ICO entry comes from its own rendering, not a downscale of the largest one,
    # so the small sizes stay as crisp as Qt's antialiasing makes them.
    largest = rendered[max(ICO_SIZES)]
    ico_path = ICONS_DIR / "rxbench.ico"
    largest.save(
        ico_path,
        format="ICO",
        sizes=[(size, size) for size in ICO_SIZES],
        append_images=[rendered[size] for size in ICO_SIZES if size != max(ICO_SIZES)],
    )
    print(ico_path.relative_to(ICONS_DIR.parent.parent))
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
