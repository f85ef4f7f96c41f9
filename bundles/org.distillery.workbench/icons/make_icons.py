"""Draws the workbench's 16x16 icons (and their @2x) with Pillow: run `python make_icons.py` here to redraw them.
Each is a few strokes in the palette of the Runs view's chart, so that views and actions read apart at a glance."""
from PIL import Image, ImageDraw

BLUE, ORANGE, GREEN, RED, PURPLE, GREY = (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (90, 90, 90)


def runs(d, s):  # two curves falling
    d.line([(1*s, 3*s), (5*s, 9*s), (9*s, 11*s), (15*s, 12*s)], fill=BLUE, width=2*s)
    d.line([(1*s, 6*s), (6*s, 12*s), (15*s, 14*s)], fill=ORANGE, width=s)


def datasets(d, s):  # a stack of disks
    for i, y in enumerate((10, 6, 2)):
        d.ellipse([(2*s, y*s), (14*s, (y+4)*s)], fill=(BLUE, (70, 150, 210), (120, 180, 230))[i], outline=GREY)


def experiments(d, s):  # a flask
    d.polygon([(6*s, 1*s), (10*s, 1*s), (10*s, 6*s), (14*s, 14*s), (2*s, 14*s), (6*s, 6*s)], outline=GREY, fill=(235, 235, 235))
    d.polygon([(4*s, 10*s), (12*s, 10*s), (14*s, 14*s), (2*s, 14*s)], fill=GREEN)


def exports(d, s):  # a box and an arrow out
    d.rectangle([(1*s, 6*s), (11*s, 14*s)], outline=GREY, fill=(240, 220, 180))
    d.line([(6*s, 10*s), (14*s, 2*s)], fill=RED, width=2*s)
    d.polygon([(10*s, 1*s), (15*s, 1*s), (15*s, 6*s)], fill=RED)


def jobs(d, s):  # a play button in a circle
    d.ellipse([(1*s, 1*s), (15*s, 15*s)], outline=GREEN, width=s)
    d.polygon([(6*s, 4*s), (12*s, 8*s), (6*s, 12*s)], fill=GREEN)


def launch(d, s):  # a green play triangle
    d.polygon([(3*s, 2*s), (14*s, 8*s), (3*s, 14*s)], fill=GREEN, outline=(20, 110, 20))


def compare(d, s):  # two columns side by side
    d.rectangle([(1*s, 2*s), (7*s, 14*s)], outline=GREY, fill=(200, 225, 245))
    d.rectangle([(9*s, 2*s), (15*s, 14*s)], outline=GREY, fill=(255, 225, 190))
    for y in (5, 8, 11):
        d.line([(2*s, y*s), (6*s, y*s)], fill=BLUE, width=s)
        d.line([(10*s, y*s), (14*s, y*s)], fill=ORANGE, width=s)


def spec(d, s):  # a page with lines
    d.polygon([(3*s, 1*s), (10*s, 1*s), (13*s, 4*s), (13*s, 15*s), (3*s, 15*s)], outline=GREY, fill=(250, 250, 250))
    for y in (6, 9, 12):
        d.line([(5*s, y*s), (11*s, y*s)], fill=PURPLE, width=s)


def preferences(d, s):  # sliders
    for i, (y, x) in enumerate(((3, 5), (8, 11), (13, 7))):
        d.line([(1*s, y*s), (15*s, y*s)], fill=GREY, width=s)
        d.rectangle([((x-1)*s, (y-2)*s), ((x+1)*s, (y+2)*s)], fill=(BLUE, ORANGE, GREEN)[i])


def scorecard(d, s):  # bars
    for i, h in enumerate((6, 10, 13)):
        d.rectangle([((2+4*i)*s, (15-h)*s), ((4+4*i)*s, 15*s)], fill=(BLUE, ORANGE, GREEN)[i])


def errorlog(d, s):  # a red disk with a white cross, as the IDE's error marker
    d.ellipse([(1*s, 1*s), (15*s, 15*s)], fill=RED, outline=(150, 20, 20))
    d.line([(5*s, 5*s), (11*s, 11*s)], fill=(255, 255, 255), width=2*s)
    d.line([(11*s, 5*s), (5*s, 11*s)], fill=(255, 255, 255), width=2*s)


for draw in (runs, datasets, experiments, exports, jobs, launch, compare, spec, preferences, scorecard, errorlog):
    for scale, suffix in ((1, ""), (2, "@2x")):
        img = Image.new("RGBA", (16 * scale, 16 * scale), (0, 0, 0, 0))
        draw(ImageDraw.Draw(img), scale)
        img.save(f"{draw.__name__}{suffix}.png")
