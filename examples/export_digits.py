"""Write the bundled digits as PNG files in class folders, ready for ImageFolder.

    python examples/export_digits.py OUT_DIR [--size 32] [--rgb]

makes OUT_DIR/0/0000.png ... OUT_DIR/9/1796.png (8x8 grayscale by default;
``--size`` upscales bilinearly, ``--rgb`` writes 3 channels). Needs Pillow
(``pip install nyang[images]``).
"""
import argparse
import os

import numpy as np

from nyang.data.datasets import load_raw


def export_digits(out_dir, size=8, rgb=False):
    """Write every digit to ``out_dir/<label>/<index>.png``; returns the number written."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("export_digits needs Pillow: pip install nyang[images]") from None
    pixels, labels, classes = load_raw("digits")
    images = np.round(pixels.reshape(-1, 8, 8) * (255 / 16)).astype(np.uint8)
    for name in classes:
        os.makedirs(os.path.join(out_dir, name), exist_ok=True)
    for index, (image, label) in enumerate(zip(images, labels)):
        picture = Image.fromarray(image)  # (8, 8) uint8: mode "L"
        if size != 8:
            picture = picture.resize((size, size), Image.BILINEAR)
        if rgb:
            picture = picture.convert("RGB")
        picture.save(os.path.join(out_dir, classes[label], f"{index:04d}.png"))
    return len(images)


def main(argv=None):
    """The command line: ``export_digits.py OUT_DIR [--size N] [--rgb]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", help="folder to write the class folders 0..9 into")
    parser.add_argument("--size", type=int, default=8, help="side of the written images (default 8)")
    parser.add_argument("--rgb", action="store_true", help="write RGB instead of grayscale")
    args = parser.parse_args(argv)
    count = export_digits(args.out_dir, args.size, args.rgb)
    print(f"wrote {count} digits ({args.size}x{args.size}, {'RGB' if args.rgb else 'L'}) to {args.out_dir}")


if __name__ == "__main__":
    main()
