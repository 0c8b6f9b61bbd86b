#!/usr/bin/python3
"""Makes the input pictures of the application recipes in docs/applications.md.

Unseen-domain references (paper Sec. 4.2, Fig. 6): three drawings that are not
Fashion-MNIST images - colour, larger than 32 x 32, drawn outlines with jitter
and shading - so the model must translate them into its own domain. And the
scribble input (Sec. 4.4): a Fashion-MNIST test image with a painted stroke.

Deterministic (fixed seed), so rerunning it rewrites identical files:

    /usr/bin/python3 scripts/docs/make_inputs.py        # -> docs/images/inputs/*.png
"""
import math
import os
import random

from PIL import Image, ImageDraw, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "docs", "images", "inputs")
REFERENCES = os.path.join(ROOT, "models", "fashion-mnist-ddpm", "references")


def jitter(points, rng, amount):
    """A hand-drawn outline: each corner moved a little, edges subdivided and wobbled."""
    out = []
    for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]):
        for k in range(6):
            s = k / 6
            out.append((x0 + (x1 - x0) * s + rng.uniform(-amount, amount),
                        y0 + (y1 - y0) * s + rng.uniform(-amount, amount)))
    return out


def shaded(size, background, fill, outline, polygons, rng, light=(0.3, 0.2)):
    """Dark gradient background, the shapes filled with a colour lit from one side."""
    w, h = size
    img = Image.new("RGB", size)
    px = img.load()
    for y in range(h):
        for x in range(w):
            g = 1.0 - 0.5 * y / h
            px[x, y] = tuple(int(c * g) for c in background)
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for poly in polygons:
        draw.polygon(jitter(poly, rng, w / 60), fill=255)
    body = Image.new("RGB", size)
    bp = body.load()
    for y in range(h):
        for x in range(w):
            lit = 0.75 + 0.25 * math.cos(math.hypot(x / w - light[0], y / h - light[1]) * 2.2)
            bp[x, y] = tuple(min(255, int(c * lit + rng.uniform(-12, 12))) for c in fill)
    img.paste(body, (0, 0), mask.filter(ImageFilter.GaussianBlur(w / 160)))
    line = ImageDraw.Draw(img)
    for poly in polygons:
        pts = jitter(poly, rng, w / 80)
        line.line(pts + pts[:1], fill=outline, width=max(1, w // 48))
    return img


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = random.Random(2021)
    # A T-shirt in crayon-like pastel on a dark slate background.
    tshirt = [(34, 22), (50, 28), (62, 28), (78, 22), (100, 40), (90, 54), (80, 48), (80, 104),
              (32, 104), (32, 48), (22, 54), (12, 40)]
    shaded((112, 112), (30, 34, 46), (250, 200, 120), (90, 50, 20), [tshirt], rng).save(
        os.path.join(OUT, "drawing-tshirt.png"))
    # A boot, photo-like shading, on a dark floor.
    boot = [(62, 30), (98, 30), (100, 108), (14, 108), (16, 92), (40, 82), (60, 70)]  # toe to the left
    shaded((128, 128), (22, 18, 16), (235, 175, 125), (50, 25, 10), [boot], rng, light=(0.35, 0.3)).save(
        os.path.join(OUT, "photo-boot.png"))
    # Trousers: two legs in bright blue.
    legs = [(30, 6), (66, 6), (72, 96), (54, 96), (48, 30), (42, 96), (24, 96)]
    shaded((96, 100), (20, 20, 28), (150, 195, 255), (20, 30, 80), [legs], rng).save(
        os.path.join(OUT, "drawing-trousers.png"))

    # Scribbles: a dark stripe painted across the pullover, and a bright stroke
    # painted above the ankle boot (a taller shaft).
    im = Image.open(os.path.join(REFERENCES, "t10k-0001-pullover.png")).convert("L")
    ImageDraw.Draw(im).line([(6, 21), (26, 21)], fill=30, width=3)
    im.save(os.path.join(OUT, "scribble-pullover.png"))
    im = Image.open(os.path.join(REFERENCES, "t10k-0000-ankle-boot.png")).convert("L")
    ImageDraw.Draw(im).line([(20, 3), (20, 14)], fill=220, width=5)
    im.save(os.path.join(OUT, "scribble-ankle-boot.png"))

    # Inpainting masks (white = kept from the reference, black = generated):
    # the right half hidden, and a centre square hidden.
    im = Image.new("L", (32, 32), 255)
    ImageDraw.Draw(im).rectangle([(16, 0), (31, 31)], fill=0)
    im.save(os.path.join(OUT, "mask-right-half.png"))
    im = Image.new("L", (32, 32), 255)
    ImageDraw.Draw(im).rectangle([(8, 8), (23, 23)], fill=0)
    im.save(os.path.join(OUT, "mask-centre.png"))

if __name__ == "__main__":
    main()
