"""Broken and hostile files are named with a plain reason, and the rest of the study still opens."""

from __future__ import annotations

import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels.decoders import JPEG2000LosslessDecoder
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import MPEG2MPML, JPEG2000Lossless, JPEGLSLossless, RLELossless

from tests.data import factory as F
from viewer.core.problems import Problem, ProblemCode, Severity
from viewer.io.loader import LoadError, load_series
from viewer.io.series import LoadMode
from viewer.io.study import StudyScan, open_folder

GOOD_SLICES = 6
SMALL = (8, 8)  # 8 x 8 images: whole files of about 1 KB


def _open_with_good_series(folder: Path) -> StudyScan:
    """Open ``folder`` (which holds one bad file) after adding a good series next to it."""
    F.axial_series(folder / "good", n=GOOD_SLICES)
    study = open_folder(str(folder))
    [good] = [s for s in study.series if s.frames[0].file.path.startswith(str(folder / "good"))]
    assert good.mode is LoadMode.VOLUME and good.problems == []
    assert load_series(good).shape == (GOOD_SLICES, F.ROWS, F.COLS)
    return study


def _single_problem(study: StudyScan, path: Path) -> Problem:
    [problem] = study.file_problems
    assert problem.path == str(path)
    assert problem.message and "\n" not in problem.message and "Traceback" not in problem.message
    return problem


def _one_file(folder: Path, name: str = "bad.dcm", size: tuple[int, int] = (F.ROWS, F.COLS),
              **options: object) -> Path:
    """One valid single-image file (to be damaged by the test)."""
    [path] = F.write_stack(folder, F.stack_positions(1, 1.0), stored=F.ramp(1, *size), names=[name],
                           **options)  # type: ignore[arg-type]
    return path


def _private_ob(ds: Dataset, k: int) -> None:
    ds.add_new(0x00290010, "LO", "LUMEN TEST")
    ds.add_new(0x00291010, "OB", b"\x00" * 8)


def _referenced_images(ds: Dataset, k: int) -> None:
    item = Dataset()
    item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = ds.SOPClassUID, F.make_uid()
    ds.ReferencedImageSequence = DicomSequence([item])


# --- Each kind of bad file, next to a good series -----------------------------------------------


def _text(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_text("Patient moved during the scan; repeat series 3.\n")
    return path


def _random(folder: Path) -> Path:
    data = np.random.default_rng(5).integers(0, 256, 1024, dtype=np.uint8).tobytes()
    return F.write_bytes(folder / "random.bin", b"\xff" + data[1:])


def _empty(folder: Path) -> Path:
    return F.write_bytes(folder / "empty.dcm", b"")


def _cut_in_pixel_data(folder: Path) -> Path:
    path = _one_file(folder)
    return F.cut(path, F.pixel_data_offset(path) + 500)


def _lying_header_length(folder: Path) -> Path:
    path = _one_file(folder, size=SMALL, edit=_private_ob)
    return F.set_length(path, 0x00291010, "OB", 0xFFFFFFF0)


def _lying_sequence_length(folder: Path) -> Path:
    path = _one_file(folder, size=SMALL, edit=_referenced_images)
    return F.set_length(path, 0x00081140, "SQ", 0xFFFFFFF0)


def _lying_pixel_length(folder: Path) -> Path:
    path = _one_file(folder, size=SMALL)
    F.set_length(path, F.PIXEL_DATA, "OW", 0xFFFFFFF0)
    return F.cut(path, F.pixel_data_offset(path) + 40)


def _pixel_length_beyond_file(folder: Path) -> Path:
    """The image bytes are all there, but the element claims 4 GB: the file is not what it says."""
    return F.set_length(_one_file(folder, size=SMALL), F.PIXEL_DATA, "OW", 0xFFFFFFF0)


def _short_pixel_data(folder: Path) -> Path:
    return _one_file(folder, edit=lambda ds, k: setattr(ds, "PixelData", ds.PixelData[:1024]))


def _missing_frames(folder: Path) -> Path:
    return _one_file(folder, edit=lambda ds, k: setattr(ds, "NumberOfFrames", 3))


def _unknown_syntax(folder: Path) -> Path:
    path = _one_file(folder)
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.826.0.1.3680043.10.1469.999.1"  # made up
    ds.save_as(path)
    return path


def _no_decoder_installed(folder: Path) -> Path:
    """A video syntax: known to DICOM, but no installed plugin decodes it."""
    path = _one_file(folder)
    F.save_encapsulated(pydicom.dcmread(path), path, MPEG2MPML, [b"\x00\x00\x01\xb3" + bytes(60)])
    return path


def _non_image(folder: Path) -> Path:
    return F.non_image(folder / "report.dcm", F.new_ids())


def _colour(folder: Path) -> Path:
    return Path(shutil.copy(get_testdata_file("SC_rgb_small_odd.dcm"), folder / "colour.dcm"))


BAD_FILES: dict[str, tuple[Callable[[Path], Path], ProblemCode]] = {
    "text": (_text, ProblemCode.NOT_DICOM),
    "random bytes": (_random, ProblemCode.NOT_DICOM),
    "empty": (_empty, ProblemCode.NOT_DICOM),
    "cut in pixel data": (_cut_in_pixel_data, ProblemCode.PIXEL_DATA_SHORT),
    "header element lies": (_lying_header_length, ProblemCode.BAD_LENGTH),
    "sequence lies": (_lying_sequence_length, ProblemCode.BAD_LENGTH),
    "pixel data element lies": (_lying_pixel_length, ProblemCode.PIXEL_DATA_SHORT),
    "pixel data element beyond the file": (_pixel_length_beyond_file, ProblemCode.BAD_LENGTH),
    "pixel data short": (_short_pixel_data, ProblemCode.PIXEL_DATA_SHORT),
    "frames missing": (_missing_frames, ProblemCode.PIXEL_DATA_SHORT),
    "unknown transfer syntax": (_unknown_syntax, ProblemCode.UNSUPPORTED_TRANSFER_SYNTAX),
    "no decoder": (_no_decoder_installed, ProblemCode.NO_DECODER),
    "not an image": (_non_image, ProblemCode.NO_PIXEL_DATA),
    "colour": (_colour, ProblemCode.UNSUPPORTED_IMAGE),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_named_and_the_good_series_still_loads(tmp_path: Path, case: str) -> None:
    make, code = BAD_FILES[case]
    bad = make(tmp_path)
    study = _open_with_good_series(tmp_path)
    problem = _single_problem(study, bad)
    assert problem.code is code
    assert len(study.series) == 1
    if code is ProblemCode.NO_PIXEL_DATA:
        assert problem.severity is Severity.INFO  # a report is not a broken image
    else:
        assert problem.severity is not Severity.INFO and not study.ok


def test_short_pixel_data_says_how_much_is_there_and_needed(tmp_path: Path) -> None:
    bad = _cut_in_pixel_data(tmp_path)
    problem = _single_problem(_open_with_good_series(tmp_path), bad)
    assert problem.details == {"expected": F.ROWS * F.COLS * 2, "found": 500}


@pytest.mark.parametrize("fraction", [0.02, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95, 0.999])
def test_a_file_cut_inside_its_header_is_truncated(tmp_path: Path, fraction: float) -> None:
    path = _one_file(tmp_path)
    header_end = F.pixel_data_offset(path) - 12
    cut_at = 132 + int((header_end - 132) * fraction)  # after the DICM marker, before pixel data
    F.cut(path, cut_at)
    problem = _single_problem(_open_with_good_series(tmp_path), path)
    assert problem.code is ProblemCode.TRUNCATED
    assert problem.severity is Severity.ERROR


def test_a_header_length_beyond_the_file_is_reported_with_the_file_size(tmp_path: Path) -> None:
    bad = _lying_header_length(tmp_path)
    problem = _single_problem(_open_with_good_series(tmp_path), bad)
    assert problem.details["file_size"] == bad.stat().st_size < 2048


def test_a_missing_decoder_plugin_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = _one_file(tmp_path, transfer_syntax=JPEG2000Lossless)
    monkeypatch.setattr(JPEG2000LosslessDecoder, "_available", {})
    problem = _single_problem(_open_with_good_series(tmp_path), bad)
    assert problem.code is ProblemCode.NO_DECODER
    assert "JPEG 2000" in problem.message
    monkeypatch.undo()  # with the plugin back, the same file opens
    assert open_folder(str(bad)).file_problems == []


@pytest.mark.parametrize("transfer_syntax", [JPEG2000Lossless, JPEGLSLossless, RLELossless])
@pytest.mark.parametrize("workers", [1, None], ids=["in-process", "default"])
def test_a_garbled_codestream_fails_on_load_and_names_the_file(
        tmp_path: Path, transfer_syntax: str, workers: int | None) -> None:
    n = 4
    paths = F.write_stack(tmp_path / "coded", F.stack_positions(n, 2.5), ids=F.new_ids(),
                          transfer_syntax=transfer_syntax)
    F.garble_codestream(paths[1])
    study = _open_with_good_series(tmp_path)
    assert study.file_problems == []  # the header is fine: the damage shows when decoding
    [coded] = [s for s in study.series if len(s.frames) == n]
    with pytest.raises(LoadError) as caught:
        load_series(coded, workers=workers)
    [problem] = caught.value.problems
    assert problem.code is ProblemCode.DECODE_FAILED and problem.severity is Severity.ERROR
    assert problem.path == str(paths[1])
    assert problem.message and "\n" not in problem.message


# --- Hostile files: bounded memory, no hang -----------------------------------------------------


def _patched(folder: Path, name: str, edit: Callable[[Dataset, int], None], **options: object) -> Path:
    return _one_file(folder, name, size=SMALL, edit=edit, **options)


def _hostile_files(folder: Path) -> list[Path]:
    """About 1 KB each, every one declaring far more than it holds."""
    folder.mkdir()
    files = [
        F.set_length(_patched(folder, "ob.dcm", _private_ob), 0x00291010, "OB", 0xFFFFFFF0),
        F.set_length(_patched(folder, "ob2.dcm", _private_ob), 0x00291010, "OB", 0x7FFFFFFE),
        F.set_length(_patched(folder, "sq.dcm", _referenced_images), 0x00081140, "SQ", 0xFFFFFFF0),
        F.set_length(_one_file(folder, "lo.dcm", size=SMALL), 0x00100020, "LO", 0xFFFE),
        F.set_length(_one_file(folder, "px.dcm", size=SMALL), F.PIXEL_DATA, "OW", 0xFFFFFFF0),
        _patched(folder, "rows.dcm", lambda ds, k: setattr(ds, "Rows", 65535)),
        _patched(folder, "frames.dcm", lambda ds, k: setattr(ds, "NumberOfFrames", 2**31 - 1)),
        _compressed_with_frames(folder, "rle-frames.dcm", 10**9),
        _enhanced_with_frames(folder, "enhanced-frames.dcm", 10**9),
        F.write_bytes(folder / "preamble.dcm", bytes(128) + b"DICM" + bytes(range(256)) * 3),
        F.write_bytes(folder / "raw.dcm", b"\x08\x00\x16\x00" + b"\xf0\xff\xff\xff" + bytes(1000)),
    ]
    files.append(F.cut(_one_file(folder, "cut.dcm", size=SMALL), 700))
    return files


def _compressed_with_frames(folder: Path, name: str, frames: int) -> Path:
    path = _one_file(folder, name, size=SMALL, transfer_syntax=RLELossless)
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames = frames  # a 1 KB file claiming a billion compressed images
    ds.save_as(path)
    return path


def _enhanced_with_frames(folder: Path, name: str, frames: int) -> Path:
    ds = F.enhanced_dataset(F.ramp(2, *SMALL), F.stack_positions(2, 1.0))
    ds.NumberOfFrames = frames
    return F.save_as(ds, folder / name)


def test_hostile_files_are_refused_in_bounded_memory(tmp_path: Path) -> None:
    F.axial_series(tmp_path / "warm")
    open_folder(str(tmp_path / "warm"))  # imports and caches, so that only the scan is measured
    hostile = _hostile_files(tmp_path / "hostile")
    assert all(p.stat().st_size < 2000 for p in hostile)
    tracemalloc.start()
    try:
        study = open_folder(str(tmp_path / "hostile"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024
    assert study.series == []
    assert sorted(p.path for p in study.file_problems) == sorted(str(p) for p in hostile)
    assert all(p.severity is Severity.ERROR or p.code is ProblemCode.NOT_DICOM for p in study.file_problems)


def test_header_claiming_a_gigantic_image_is_refused_before_any_allocation(tmp_path: Path) -> None:
    from viewer.io.dicom_writer import SeriesIds, save, slice_dataset
    from viewer.io.headers import HeaderError, read_frames

    ds = slice_dataset(np.zeros((8, 8), np.int16), (0, 0, 0), (1, 0, 0, 0, 1, 0), (1, 1), SeriesIds(), 1)
    path = tmp_path / "huge.dcm"
    save(ds, str(path), pydicom.uid.RLELossless)
    forged = pydicom.dcmread(path)
    forged.Rows, forged.Columns = 60000, 60000
    forged.save_as(path)
    with pytest.raises(HeaderError) as err:
        read_frames(str(path))
    assert err.value.problem.code is ProblemCode.UNSUPPORTED_IMAGE
    assert "60000 x 60000" in err.value.problem.message


def test_series_larger_than_free_memory_is_refused_with_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from viewer.io import loader
    from viewer.io.dicom_writer import SeriesIds, axial_positions, write_series
    from viewer.io.study import open_folder

    write_series(str(tmp_path), np.zeros((3, 16, 16), np.int16), axial_positions(3, 16, 16, (1, 1, 1)),
                 (1, 0, 0, 0, 1, 0), (1, 1), SeriesIds())
    monkeypatch.setattr(loader, "available_memory", lambda: 1024)
    with pytest.raises(loader.LoadError, match="GiB of memory available"):
        loader.load_series(open_folder(str(tmp_path)).series[0])


def test_deflated_file_loads_and_a_deflate_bomb_is_refused_without_inflating_it(tmp_path: Path) -> None:
    import zlib

    from viewer.io.headers import HeaderError, read_frames
    from viewer.io.loader import load_series
    from viewer.io.study import open_folder

    good = get_testdata_file("image_dfl.dcm")
    volume = load_series(open_folder(good).series[0])
    assert np.array_equal(volume.array[0], pydicom.dcmread(good).pixel_array)

    raw = Path(good).read_bytes()
    meta_end = 132 + 12 + int.from_bytes(raw[140:144], "little")  # preamble, DICM, group length
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = packer.compress(bytes(200 << 20)) + packer.flush()  # 200 MB of zeros in ~200 KB
    path = tmp_path / "bomb.dcm"
    path.write_bytes(raw[:meta_end] + bomb)
    tracemalloc.start()
    with pytest.raises(HeaderError) as err:
        read_frames(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.value.problem.code is ProblemCode.BAD_LENGTH
    assert peak < 40 << 20
