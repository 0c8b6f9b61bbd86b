#!/usr/bin/python3
"""Stacks grid images vertically, each under a caption line:

    stack_grids.py OUT.png "caption 1" grid1.png "caption 2" grid2.png ...

Used by scripts/docs/applications.sh for pictures made of several tool runs
(a range sweep is one run per range)."""
import sys

from PIL import Image, ImageDraw


def main(argv):
    if len(argv) < 4 or len(argv) % 2 != 0:
        sys.exit("usage: stack_grids.py OUT.png CAPTION GRID [CAPTION GRID ...]")
    out, pairs = argv[1], list(zip(argv[2::2], argv[3::2]))
    grids = [(caption, Image.open(path).convert("RGB")) for caption, path in pairs]
    line = 14  # PIL's default bitmap font is 11 px high
    width = max(g.width for _, g in grids)
    height = sum(g.height + line for _, g in grids)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = 0
    for caption, grid in grids:
        draw.text((4, y + 1), caption, fill=(0, 0, 0))
        canvas.paste(grid, (0, y + line))
        y += grid.height + line
    canvas.save(out)


if __name__ == "__main__":
    main(sys.argv)
