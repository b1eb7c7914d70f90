"""Loading page images: any common kind in, one uint8 array out.

``load_image(path, mode="L")`` returns a greyscale (H, W) or colour (H, W, 3) ``uint8`` array
with the EXIF/TIFF orientation applied, whatever the file holds: colour, greyscale, palette,
alpha (composited on white paper), 1-bit, 16-bit or 32-bit integers and floats (scaled to 8 bits
by the range the data really uses), CMYK, multi-page TIFF (``page=``). ``image_size`` and
``page_count`` read only the header.

Every failure (missing, unreadable, corrupt, truncated, not an image, empty, too large for the
cap or for the free memory) is an :class:`~engine.errors.ImageError` naming the file and reason.

Size cap: Pillow's decompression-bomb guard is raised to :data:`MAX_PIXELS` (1.5 gigapixels, a
large-format scan at 600 dpi is about 0.2); beyond it, or when decoding would not fit in the
available memory, loading fails with a clear message instead of exhausting the machine.
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.errors import ImageError

MAX_PIXELS = 1_500_000_000
"""Largest image (width x height, in pixels) the engine agrees to decode."""

# Pillow's own guard warns above MAX_IMAGE_PIXELS and refuses above twice that; we check the
# size ourselves first (with a clearer message) and keep Pillow's guard as a backstop.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_EXIF_ORIENTATION = 0x0112
_MODES = ("L", "RGB")
# Bytes per pixel we may hold at once while decoding and converting (file data, decoded
# samples, a float copy of a channel, the result): a deliberately generous estimate.
_WORK_BYTES_PER_PIXEL = 12


def _name(path: Path) -> str:
    return str(path)


def _fail(path: Path, reason: str, exc: BaseException | None = None) -> ImageError:
    err = ImageError(f"{_name(path)}: {reason}")
    if exc is not None:
        err.__cause__ = exc
    return err


def _check_file(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    if not p.exists():
        raise _fail(p, "file not found.")
    if p.is_dir():
        raise _fail(p, "is a folder, not an image file.")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise _fail(p, f"cannot be read ({exc.strerror or exc}).", exc) from exc
    if size == 0:
        raise _fail(p, "the file is empty (0 bytes).")
    return p


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation, where the system tells us."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for row in fh:
                if row.startswith("MemAvailable:"):
                    return int(row.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # other systems: psutil when it is installed
        import psutil  # type: ignore[import-not-found]

        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - optional helper; unknown memory means "do not check"
        return None


def _check_size(path: Path, width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise _fail(path, f"the image has no pixels ({width} x {height}).")
    pixels = width * height
    if pixels > MAX_PIXELS:
        raise _fail(
            path,
            f"the image is too large ({width} x {height} = {pixels / 1e6:.0f} megapixels; "
            f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels). Scale it down first.",
        )
    available = _available_memory()
    needed = pixels * _WORK_BYTES_PER_PIXEL
    if available is not None and needed > available:
        raise _fail(
            path,
            f"not enough memory to open a {width} x {height} image (needs about "
            f"{needed / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available).",
        )


def _orientation(img: Image.Image) -> int:
    try:
        value = int(img.getexif().get(_EXIF_ORIENTATION, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make the page unreadable
        return 1
    return value if 1 <= value <= 8 else 1


def _orient(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1..8) to an (H, W[, C]) array, as viewers display it."""
    if orientation == 2:
        arr = arr[:, ::-1]
    elif orientation == 3:
        arr = arr[::-1, ::-1]
    elif orientation == 4:
        arr = arr[::-1]
    elif orientation == 5:
        arr = arr.swapaxes(0, 1)
    elif orientation == 6:
        arr = np.rot90(arr, -1)
    elif orientation == 7:
        arr = np.rot90(arr, -1)[::-1]
    elif orientation == 8:
        arr = np.rot90(arr, 1)
    return np.ascontiguousarray(arr)


def _high_bit_colour(img: Image.Image) -> bool:
    """True when Pillow would reduce colour samples of more than 8 bits to 8 by shifting."""
    if img.mode not in ("RGB", "RGBA", "RGBX", "CMYK"):
        return False
    for tile in getattr(img, "tile", None) or []:
        raw = tile.args if hasattr(tile, "args") else tile[3]
        raw = raw[0] if isinstance(raw, tuple) and raw else raw
        if isinstance(raw, str) and (";16" in raw or ";32" in raw):
            return True
    return False


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale samples of any depth to uint8 by the range the data really uses.

    Integers wider than 8 bits and floats outside [0, 1] are stretched linearly from their
    minimum to their maximum (12-bit data in 16-bit containers comes out full range, not dark);
    floats within [0, 1] are taken as fractions of white; a constant image keeps its level
    relative to its type's full scale.
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    data = arr.astype(np.float32) if arr.dtype.itemsize <= 4 else arr.astype(np.float64)
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(data)
        if not finite.all():
            if not finite.any():
                return np.zeros(arr.shape, np.uint8)
            lo = float(data[finite].min())
            data = np.where(finite, data, lo)  # NaN and infinities become the darkest value
    lo, hi = float(data.min()), float(data.max())
    if np.issubdtype(arr.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        out = data * 255.0
    elif hi > lo:
        out = (data - lo) * (255.0 / (hi - lo))
    else:
        if np.issubdtype(arr.dtype, np.integer) and hi > 255:
            full = float(np.iinfo(arr.dtype).max)
            out = data * (255.0 / full)
        else:
            out = data
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _alpha_fraction(alpha: np.ndarray) -> np.ndarray:
    if np.issubdtype(alpha.dtype, np.integer):
        return alpha.astype(np.float32) / float(np.iinfo(alpha.dtype).max)
    if alpha.dtype == np.bool_:
        return alpha.astype(np.float32)
    return np.clip(np.nan_to_num(alpha.astype(np.float32)), 0.0, 1.0)


def _finish(colour: np.ndarray, alpha: np.ndarray | None, mode: str) -> np.ndarray:
    """colour: (H, W) or (H, W, 3) samples of any depth; alpha: (H, W) or None."""
    out = _to_uint8(colour)
    if alpha is not None:
        frac = _alpha_fraction(alpha)
        if out.ndim == 3:
            frac = frac[:, :, None]
        # transparent parts of a scan are paper: composite on white
        out = (out.astype(np.float32) * frac + 255.0 * (1.0 - frac) + 0.5).astype(np.uint8)
    if mode == "L" and out.ndim == 3:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)
    elif mode == "RGB" and out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(out)


def _split_channels(arr: np.ndarray, bgr: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(H, W[, C]) array -> colour (H, W) or (H, W, 3) and alpha or None."""
    if arr.ndim == 2:
        return arr, None
    channels = arr.shape[2]
    if channels == 1:
        return arr[:, :, 0], None
    if channels == 2:
        return arr[:, :, 0], arr[:, :, 1]
    colour = arr[:, :, :3]
    if bgr:
        colour = colour[:, :, ::-1]
    return colour, (arr[:, :, 3] if channels >= 4 else None)


def _pil_pixels(img: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Colour samples and alpha of the current frame as numpy arrays (any depth)."""
    mode = img.mode
    if mode == "1":
        return np.asarray(img.convert("L")), None
    if mode == "P":
        has_alpha = "transparency" in img.info or (
            img.palette is not None and img.palette.mode == "RGBA"
        )
        img = img.convert("RGBA" if has_alpha else "RGB")
        mode = img.mode
    elif mode == "PA":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("LA", "La"):
        arr = np.asarray(img.convert("LA"))
        return arr[:, :, 0], arr[:, :, 1]
    if mode in ("RGBA", "RGBa"):
        arr = np.asarray(img.convert("RGBA"))
        return arr[:, :, :3], arr[:, :, 3]
    if mode in ("L", "RGB"):
        return np.asarray(img), None
    if mode.startswith("I") or mode.startswith("F"):
        arr = np.asarray(img)
        return arr.astype(arr.dtype.newbyteorder("=")) if not arr.dtype.isnative else arr, None
    # CMYK, YCbCr, LAB, HSV, RGBX and anything else Pillow can turn into RGB
    return np.asarray(img.convert("RGB")), None


def _cv2_pages(path: Path, page: int | None) -> tuple[list[np.ndarray], int]:
    """Decode with OpenCV (high-bit colour, float colour TIFF); returns (arrays, page count)."""
    buf = np.fromfile(str(path), dtype=np.uint8)
    count = int(cv2.imcount(str(path))) if page is None or page > 0 else 1
    if page is None:
        return [], max(count, 0)
    if page == 0:
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise ValueError("OpenCV could not decode it either")
        return [arr], max(count, 1)
    ok, mats = cv2.imdecodemulti(buf, cv2.IMREAD_UNCHANGED)
    if not ok or page >= len(mats):
        raise IndexError(f"page {page} does not exist (the file has {len(mats) if ok else 0})")
    return [mats[page]], len(mats)


def _seek(img: Image.Image, path: Path, page: int) -> None:
    count = int(getattr(img, "n_frames", 1) or 1)
    if not 0 <= page < count:
        raise _fail(path, f"page {page} does not exist (the file has {count} page{'s' * (count != 1)}).")
    if page:
        img.seek(page)


@contextmanager
def _pil_open(p: Path) -> Iterator[Image.Image | UnidentifiedImageError]:
    """Pillow's image of ``p`` (closed on exit), or Pillow's UnidentifiedImageError when it does
    not know the kind, so that the caller can try OpenCV. Decompression-bomb warnings are
    silenced: ``_check_size`` applies our own limit with a clear message."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(p)
        except UnidentifiedImageError as exc:
            yield exc
            return
        with img:
            yield img


def load_image(path: str | os.PathLike[str], mode: str = "L", page: int = 0) -> np.ndarray:
    """Decode an image file into a uint8 array, orientation applied.

    ``mode="L"`` gives (H, W) greyscale (ITU-R 601 luma), ``mode="RGB"`` gives (H, W, 3).
    ``page`` picks a page of a multi-page file (TIFF); see :func:`page_count`.
    Raises ImageError naming the file and the reason for anything that cannot be used.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, not {mode!r}")
    if not isinstance(page, int) or page < 0:
        raise _fail(Path(path), f"page must be a non-negative integer, not {page!r}.")
    p = _check_file(path)
    try:
        with _pil_open(p) as img:
            if isinstance(img, UnidentifiedImageError):
                return _load_with_cv2(p, mode, page, img)
            _seek(img, p, page)
            _check_size(p, img.width, img.height)
            high_bit = _high_bit_colour(img)  # before getexif(), which may load a PNG
            orientation = _orientation(img)
            if high_bit:
                try:
                    arrays, _ = _cv2_pages(p, page)
                    colour, alpha = _split_channels(arrays[0], bgr=True)
                    return _orient(_finish(colour, alpha, mode), orientation)
                except Exception:  # noqa: BLE001 - fall back to Pillow's 8-bit reading
                    pass
            img.load()
            colour, alpha = _pil_pixels(img)
            return _orient(_finish(colour, alpha, mode), orientation)
    except ImageError:
        raise
    except MemoryError as exc:
        raise _fail(p, "not enough memory to decode the image.", exc) from exc
    except Image.DecompressionBombError as exc:
        raise _fail(p, f"the image is larger than the {MAX_PIXELS / 1e6:.0f}-megapixel limit.", exc) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        if "truncated" in reason.lower():
            reason = "the file is truncated (incomplete download or copy?)"
        raise _fail(p, f"cannot be decoded: {reason}.", exc) from exc
    except Exception as exc:  # noqa: BLE001 - corrupt files raise all sorts inside decoders
        raise _fail(p, f"corrupt or unsupported image data ({type(exc).__name__}: {exc}).", exc) from exc


def _load_with_cv2(p: Path, mode: str, page: int, pil_exc: Exception) -> np.ndarray:
    """Kinds Pillow cannot identify (e.g. float or 64-bit colour TIFF) via OpenCV."""
    with open(p, "rb") as fh:
        head = fh.read(8)
    if not (head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+") or head == b"\x89PNG\r\n\x1a\n"):
        raise _fail(p, "not an image file (or an image kind that cannot be read).", pil_exc)
    try:
        arrays, _ = _cv2_pages(p, page)
    except IndexError as exc:
        raise _fail(p, f"{exc}.", exc) from exc
    except Exception as exc:  # noqa: BLE001
        raise _fail(p, f"corrupt or unsupported image data ({exc}).", exc) from exc
    arr = arrays[0]
    _check_size(p, arr.shape[1], arr.shape[0])
    colour, alpha = _split_channels(arr, bgr=True)
    return _finish(colour, alpha, mode)


def image_size(path: str | os.PathLike[str], page: int = 0) -> tuple[int, int]:
    """(width, height) as displayed (after EXIF orientation), read from the header only."""
    p = _check_file(path)
    try:
        with _pil_open(p) as img:
            if isinstance(img, UnidentifiedImageError):
                arr = _load_with_cv2(p, "L", page, img)
                return int(arr.shape[1]), int(arr.shape[0])
            _seek(img, p, page)
            width, height = img.size
            if width <= 0 or height <= 0:
                raise _fail(p, f"the image has no pixels ({width} x {height}).")
            if _orientation(img) in (5, 6, 7, 8):
                width, height = height, width
            return int(width), int(height)
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - header parsers raise many kinds on corrupt input
        raise _fail(p, f"cannot read the image header ({type(exc).__name__}: {exc}).", exc) from exc


def page_count(path: str | os.PathLike[str]) -> int:
    """Number of pages (frames) in an image file: 1 for most kinds, n for multi-page TIFF."""
    p = _check_file(path)
    try:
        with _pil_open(p) as img:
            if isinstance(img, UnidentifiedImageError):
                _load_with_cv2(p, "L", 0, img)  # raises when it is no image at all
                _, count = _cv2_pages(p, None)
                return max(count, 1)
            return max(int(getattr(img, "n_frames", 1) or 1), 1)
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _fail(p, f"cannot read the image header ({type(exc).__name__}: {exc}).", exc) from exc
