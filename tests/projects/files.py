# SPDX-License-Identifier: GPL-3.0-or-later
"""Projects for every kind of file a .blend can depend on, other than caches: what a packer must ship.

Each builder takes an empty folder, the project's root, lays it out as a studio does (shots in
``shots/``, shared assets in ``assets/`` beside it), runs a Blender 3.4 script from ``scenes/``
to make the files there, and says which of them matter to the pixels (``needed``). The scripts
check, by reopening what they saved, that every path is written exactly as the kind says
(relative, absolute, climbing out of the folder…), so a project can't quietly become another kind.

Every picture is flat emission filling the frame (64×48, 4 samples, fixed seed): a file left
behind shows as magenta or as an empty part of the frame, and the same build renders the same.
"""

from __future__ import annotations

from pathlib import Path

from . import SCENES, Builder, Project, run_blender_script

SHOT = "shots/sh010/shot.blend"
#: The font project's twin whose font path leads nowhere: its "without" render (see ``font_absolute``).
NOFONT = "shots/sh010/shot_nofont.blend"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf")
#: The missing-files project's texture on a server long gone.
GONE_TEXTURE = Path("/nonexistent/old_server/textures/gone.png")


def _build(script: str, kind: str, root: Path, needed: list[str], blend: str = SHOT, frames: tuple[int, ...] = (1,),
           missing: list[Path] | None = None, pixels_matter: bool = True) -> Project:
    """Run ``scenes/files_<script>.py`` for ``kind`` in ``root``; ``needed`` are relative to ``root``."""
    run_blender_script(SCENES / f"files_{script}.py", kind, root)
    return Project(kind=kind, root=root, blend=root / blend, frames=list(frames),
                   needed=[root / path for path in needed], pixels_matter=pixels_matter, missing=missing or [])


def library_relative_outside(root: Path) -> Project:
    """shot.blend links Prop from ``//../../assets/props/props.blend``; its texture is ``//textures/skin.png``.

    The texture's path is relative to the library, not the shot: ``assets/props/textures/skin.png``.
    """
    return _build("libraries", "library_relative_outside", root,
                  ["assets/props/props.blend", "assets/props/textures/skin.png"])


def library_absolute(root: Path) -> Project:
    """As ``library_relative_outside``, but the shot names the library by its absolute path."""
    return _build("libraries", "library_absolute", root,
                  ["assets/props/props.blend", "assets/props/textures/skin.png"])


def library_of_library(root: Path) -> Project:
    """shot.blend links the collection Set from ``assets/sets/set.blend``, which links Prop from props.blend.

    Prop (left, ``assets/props/textures/skin.png``) comes in only through set.blend; the set's Floor
    (right) uses ``assets/sets/textures/floor.png``. Each texture is written relative to its own
    library. Blender also records props.blend in the shot, rebased: ``//../../assets/props/props.blend``.
    """
    return _build("libraries", "library_of_library", root,
                  ["assets/props/props.blend", "assets/props/textures/skin.png",
                   "assets/sets/set.blend", "assets/sets/textures/floor.png"])


def library_same_relative_string(root: Path) -> Project:
    """Two ``lib.blend`` (``assets/props_a``, ``assets/props_b``), each with an object Prop and ``//textures/skin.png``.

    The same string names a red image for the left Prop and a blue one for the right: a packer that
    keys textures by their written path ships one colour twice.
    """
    return _build("libraries", "library_same_relative_string", root,
                  ["assets/props_a/textures/skin.png", "assets/props_b/textures/skin.png"])


def image_relative(root: Path) -> Project:
    """A texture in the shot's own folder: ``//textures/wall.png``."""
    return _build("images", "image_relative", root, ["shots/sh010/textures/wall.png"])


def image_absolute(root: Path) -> Project:
    """A texture written as the absolute path of ``<root>/library/textures/brick.png``."""
    return _build("images", "image_absolute", root, ["library/textures/brick.png"])


def image_outside(root: Path) -> Project:
    """A texture outside the .blend's folder: ``//../../assets/textures/ground.png``."""
    return _build("images", "image_outside", root, ["assets/textures/ground.png"])


def image_udim(root: Path) -> Project:
    """A UDIM texture ``//textures/skin.<UDIM>.png``: tile 1001 red (left half), 1002 blue (right half)."""
    return _build("images", "image_udim", root,
                  ["shots/sh010/textures/skin.1001.png", "shots/sh010/textures/skin.1002.png"])


def image_sequence(root: Path) -> Project:
    """An image-sequence texture ``//seq/tex_0001.png``: frame 1 shows tex_0001 (green), frame 2 tex_0002 (yellow)."""
    return _build("images", "image_sequence", root, ["shots/sh010/seq"], frames=(1, 2))


def image_movie(root: Path) -> Project:
    """A movie texture ``//../../assets/movies/screen.mp4`` (H.264, three flat colours; frame 1 is cyan)."""
    return _build("media", "image_movie", root, ["assets/movies/screen.mp4"])


def sequencer_image_sequence(root: Path) -> Project:
    """The shot renders its sequencer: an image strip of ``//../imgseq/000210.png``, ``000211.png`` (frames 1, 2).

    The images sit above the .blend, in ``shots/imgseq/``.
    """
    return _build("media", "sequencer_image_sequence", root, ["shots/imgseq"], frames=(1, 2))


def sequencer_movie(root: Path) -> Project:
    """The shot renders its sequencer: a movie strip ``//../plates/plate.mkv`` (FFV1), above the .blend."""
    return _build("media", "sequencer_movie", root, ["shots/plates/plate.mkv"])


def sequencer_sound(root: Path) -> Project:
    """A sound strip ``//../audio/tone.wav`` (above the .blend) under a cyan colour strip.

    A sound can't change pixels, so ``pixels_matter`` is False: the proof that it must travel is
    that Blender reports it missing when it isn't there.
    """
    return _build("media", "sequencer_sound", root, ["shots/audio/tone.wav"], pixels_matter=False)


def font_absolute(root: Path) -> Project:
    """White letters "Ag" in the system font ``/usr/share/fonts/truetype/dejavu/DejaVuSerif-Bold.ttf``.

    The font is named by its absolute system path, and a system file can't be moved aside, so
    ``needed`` is empty. The "without" render is instead of ``shots/sh010/shot_nofont.blend``
    (``NOFONT``): the same shot whose font is a deleted copy, ``<root>/fonts_gone/DejaVuSerif-Bold.ttf``.
    Blender then falls back to its built-in font, whose letters differ. (Blender 3.4 has no way to
    rewrite a font's path from Python: ``VectorFont.filepath`` is read-only.)
    """
    return _build("images", "font_absolute", root, [])


def compressed_gzip(root: Path) -> Project:
    """A gzip-compressed shot.blend (saved plain, then gzipped in place) with ``//textures/wall.png``."""
    return _build("images", "compressed_gzip", root, ["shots/sh010/textures/wall.png"])


def compressed_zstd(root: Path) -> Project:
    """A zstd shot.blend (``//textures/ground.png``, left) linking a zstd ``assets/props/props.blend`` (right).

    The library's texture is ``//textures/skin.png``, relative to the library.
    """
    return _build("libraries", "compressed_zstd", root,
                  ["shots/sh010/textures/ground.png", "assets/props/props.blend", "assets/props/textures/skin.png"])


def compressed_absolute(root: Path) -> Project:
    """A zstd shot.blend naming ``<root>/library/textures/brick.png`` by absolute path.

    A packer that rewrites the path must rewrite it inside the compressed file.
    """
    return _build("images", "compressed_absolute", root, ["library/textures/brick.png"])


def names_unicode_spaces(root: Path) -> Project:
    """Accents and spaces everywhere: ``shots/séquence 01/plan 010.blend`` links ``assets/décor/arbre été.blend``.

    The library's object (right) uses ``//textures/écorce de bouleau.png``; the shot's own plane
    (left) uses ``//../../assets/textures/ciel étoilé.png``.
    """
    return _build("libraries", "names_unicode_spaces", root,
                  ["assets/décor/arbre été.blend", "assets/décor/textures/écorce de bouleau.png",
                   "assets/textures/ciel étoilé.png"], blend="shots/séquence 01/plan 010.blend")


def missing_files(root: Path) -> Project:
    """A shot naming ``/nonexistent/old_server/textures/gone.png`` and a deleted ``//../../assets/moved/gone.blend``.

    Blender renders it anyway: the lost texture's plane (right) comes out magenta, the lost
    library's object is absent. The one texture that exists, ``//textures/ground.png`` (left), is
    ``needed``.
    """
    return _build("libraries", "missing_files", root, ["shots/sh010/textures/ground.png"],
                  missing=[GONE_TEXTURE, root / "assets/moved/gone.blend"])


KINDS: dict[str, Builder] = {
    builder.__name__: builder
    for builder in (
        library_relative_outside, library_absolute, library_of_library, library_same_relative_string,
        image_relative, image_absolute, image_outside, image_udim, image_sequence, image_movie,
        sequencer_image_sequence, sequencer_movie, sequencer_sound, font_absolute,
        compressed_gzip, compressed_zstd, compressed_absolute, names_unicode_spaces, missing_files,
    )
}
