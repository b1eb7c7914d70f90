"""engine.imaging: every kind of image file in, uint8 out; every bad file an ImageError."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

import engine.imaging as imaging
from engine.errors import ImageError
from engine.imaging import image_size, load_image, page_count


def _gradient(h: int = 20, w: int = 30) -> np.ndarray:
    return np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_colour_jpeg_to_grey_and_rgb(tmp_path):
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, :, 0] = 200
    path = _save(Image.fromarray(rgb), tmp_path / "c.jpg", quality=95)
    grey = load_image(path)
    colour = load_image(path, mode="RGB")
    assert grey.shape == (20, 30) and grey.dtype == np.uint8
    assert colour.shape == (20, 30, 3) and colour.dtype == np.uint8
    assert abs(int(colour[10, 10, 0]) - 200) < 6 and colour[10, 10, 2] < 10
    assert abs(int(grey[10, 10]) - round(0.299 * 200)) < 6
    assert image_size(path) == (30, 20)
    assert page_count(path) == 1


def test_grey_png_roundtrip_exact(tmp_path):
    grey = _gradient()
    path = _save(Image.fromarray(grey), tmp_path / "g.png")
    assert np.array_equal(load_image(path), grey)
    rgb = load_image(path, mode="RGB")
    assert rgb.shape == (20, 30, 3) and np.array_equal(rgb[:, :, 1], grey)


def test_palette_with_transparency_is_white(tmp_path):
    img = Image.new("P", (10, 10), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 5, 10))
    path = _save(img, tmp_path / "p.png", transparency=0)
    out = load_image(path, mode="RGB")
    assert out[5, 8].tolist() == [255, 255, 255]  # transparent index -> paper
    assert out[5, 2].tolist() == [255, 0, 0]


def test_alpha_composited_on_white(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5, 3] = 255  # left half opaque black, right half transparent
    path = _save(Image.fromarray(rgba, "RGBA"), tmp_path / "a.png")
    out = load_image(path)
    assert out[5, 2] == 0 and out[5, 8] == 255
    la = np.zeros((10, 10, 2), np.uint8)
    la[:, :, 1] = 128  # half transparent black
    path = _save(Image.fromarray(la, "LA"), tmp_path / "la.png")
    assert abs(int(load_image(path)[0, 0]) - 127) <= 1


def test_one_bit(tmp_path):
    bits = np.zeros((8, 16), bool)
    bits[:, 8:] = True
    for suffix in ("png", "tif"):
        path = _save(Image.fromarray(bits).convert("1"), tmp_path / f"b.{suffix}")
        out = load_image(path)
        assert out.dtype == np.uint8 and set(np.unique(out)) == {0, 255}
        assert out[0, 0] == 0 and out[0, 15] == 255


def test_sixteen_bit_grey_uses_real_range(tmp_path):
    # 12-bit data in a 16-bit container: a plain >> 8 would give 0..15 (black)
    data = np.tile(np.linspace(0, 4095, 40).astype(np.uint16), (10, 1))
    path = tmp_path / "g16.png"
    assert cv2.imwrite(str(path), data)
    out = load_image(path)
    assert out.dtype == np.uint8 and out.min() == 0 and out.max() == 255
    assert np.all(np.diff(out[0].astype(int)) >= 0)


def test_sixteen_bit_rgb_uses_real_range(tmp_path):
    data = np.zeros((10, 40, 3), np.uint16)
    data[:, :, :] = np.linspace(1000, 5000, 40).astype(np.uint16)[None, :, None]
    data[:, :, 0] //= 2  # some colour: blue channel (BGR order for cv2) darker
    path = tmp_path / "c16.png"
    assert cv2.imwrite(str(path), data)
    out = load_image(path, mode="RGB")
    assert out.shape == (10, 40, 3) and out.max() == 255
    assert out[5, 39, 2] < out[5, 39, 0]  # blue darker than red, as written


def test_float_tiff(tmp_path):
    frac = np.tile(np.linspace(0.0, 1.0, 30, dtype=np.float32), (10, 1))
    path = _save(Image.fromarray(frac, "F"), tmp_path / "f.tif")
    out = load_image(path)
    assert out[0, 0] == 0 and out[0, -1] == 255 and abs(int(out[0, 15]) - 132) <= 2
    wide = frac * 5000 - 100  # outside [0, 1]: stretched by its range
    path = _save(Image.fromarray(wide, "F"), tmp_path / "fw.tif")
    out = load_image(path)
    assert out.min() == 0 and out.max() == 255


def test_float_rgb_tiff(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    data = np.random.default_rng(0).random((12, 16, 3)).astype(np.float32)
    path = tmp_path / "rgbf.tif"
    tifffile.imwrite(path, data, photometric="rgb")
    out = load_image(path, mode="RGB")
    assert out.shape == (12, 16, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(float) - data * 255).max() <= 1
    assert image_size(path) == (16, 12)


def test_multipage_tiff(tmp_path):
    pages = [Image.fromarray(np.full((10, 12), v, np.uint8)) for v in (10, 120, 230)]
    path = tmp_path / "m.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    assert page_count(path) == 3
    assert [int(load_image(path, page=i)[0, 0]) for i in range(3)] == [10, 120, 230]
    with pytest.raises(ImageError, match="page 3"):
        load_image(path, page=3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    rng = np.random.default_rng(orientation)
    rgb = rng.integers(0, 255, (6, 9, 3), dtype=np.uint8)
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = _save(img, tmp_path / "o.png", exif=exif.tobytes())
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    out = load_image(path, mode="RGB")
    assert np.array_equal(out, expected)
    assert image_size(path) == (expected.shape[1], expected.shape[0])


def test_exif_rotated_jpeg(tmp_path):
    grey = np.full((20, 40), 255, np.uint8)
    grey[:5, :5] = 0  # dark mark at the stored top-left
    img = Image.fromarray(grey)
    exif = img.getexif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = _save(img, tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = load_image(path)
    assert out.shape == (40, 20)
    assert image_size(path) == (20, 40)
    assert out[:5, -5:].mean() < 60 and out[:5, :5].mean() > 200  # mark now top-right


def test_cmyk_jpeg(tmp_path):
    cmyk = np.zeros((10, 10, 4), np.uint8)
    cmyk[:, :, 0] = 255  # pure cyan
    path = _save(Image.fromarray(cmyk, "CMYK"), tmp_path / "k.jpg", quality=95)
    out = load_image(path, mode="RGB")
    r, g, b = (int(v) for v in out[5, 5])
    assert r < 40 and g > 215 and b > 215


def test_one_by_one(tmp_path):
    path = _save(Image.new("L", (1, 1), 77), tmp_path / "one.png")
    out = load_image(path)
    assert out.shape == (1, 1) and out[0, 0] == 77
    assert image_size(path) == (1, 1)


def _jpeg_bytes() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)).save(
        buf, "JPEG"
    )
    return buf.getvalue()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's "Corrupt EXIF data"
@pytest.mark.parametrize(
    "name,content",
    [
        ("empty.png", b""),
        ("text.jpg", b"this is not an image\n" * 10),
        ("noise.png", bytes(np.random.default_rng(2).integers(0, 255, 500, dtype=np.uint8))),
        ("truncated.jpg", _jpeg_bytes()[:400]),
        ("header_only.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20),
        ("fake.tif", b"II*\x00" + b"\xff" * 40),
    ],
)
def test_bad_files_raise_image_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert name in str(info.value)
    if content[:4] not in (b"\xff\xd8\xff\xe0",):  # a truncated JPEG still has a valid header
        with pytest.raises(ImageError):
            image_size(path)


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (80, 80), dtype=np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageError, match="cut.png"):
        load_image(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nowhere.jpg")
    with pytest.raises(ImageError, match="not found"):
        image_size(tmp_path / "nowhere.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(ImageError):
        page_count(tmp_path / "nowhere.tif")


def test_size_cap_and_memory(tmp_path, monkeypatch):
    path = _save(Image.new("L", (50, 40), 200), tmp_path / "big.png")
    monkeypatch.setattr(imaging, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="too large"):
        load_image(path)
    monkeypatch.setattr(imaging, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(imaging, "_available_memory", lambda: 100)
    with pytest.raises(ImageError, match="memory"):
        load_image(path)


def test_pillow_guard_raised_to_documented_cap():
    assert Image.MAX_IMAGE_PIXELS == imaging.MAX_PIXELS == 1_500_000_000


def test_bad_arguments(tmp_path):
    path = _save(Image.new("L", (4, 4)), tmp_path / "x.png")
    with pytest.raises(ValueError):
        load_image(path, mode="CMYK")
    with pytest.raises(ImageError):
        load_image(path, page=-1)
