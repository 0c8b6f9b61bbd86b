#!/usr/bin/python3
"""Stacks grid images vertically, each under a caption line, enlarged:

    stack_grids.py [--scale S] OUT.png CAPTION GRID [CAPTION GRID ...]

An empty CAPTION adds no line. Used by scripts/docs/applications.sh: a range
sweep is one tool run per range, and 32 x 32 cells read better at 2x (nearest
neighbour, so pixels stay pixels)."""
import sys

from PIL import Image, ImageDraw


def main(argv):
    scale = 1
    if len(argv) > 2 and argv[1] == "--scale":
        scale, argv = int(argv[2]), argv[:1] + argv[3:]
    if len(argv) < 4 or len(argv) % 2 != 0 or scale < 1:
        sys.exit("usage: stack_grids.py [--scale S] OUT.png CAPTION GRID [CAPTION GRID ...]")
    out, pairs = argv[1], list(zip(argv[2::2], argv[3::2]))
    grids = []
    for caption, path in pairs:
        g = Image.open(path).convert("RGB")
        grids.append((caption, g.resize((g.width * scale, g.height * scale), Image.NEAREST)))
    line = 14  # PIL's default bitmap font is 11 px high
    width = max(g.width for _, g in grids)
    height = sum(g.height + (line if c else 0) for c, g in grids)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    y = 0
    for caption, grid in grids:
        if caption:
            draw.text((4, y + 1), caption, fill=(0, 0, 0))
            y += line
        canvas.paste(grid, (0, y))
        y += grid.height
    canvas.save(out)


if __name__ == "__main__":
    main(sys.argv)
