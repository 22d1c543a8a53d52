# SPDX-License-Identifier: GPL-3.0-or-later
"""Shots that use movies, image sequences and sounds: as textures and in the video sequencer.

Run by ``tests/projects/files.py`` inside Debian's Blender 3.4::

    blender -b --factory-startup --python files_media.py -- KIND ROOT

Editors keep their media beside the shots, not inside a shot's folder, so the sequencer's files
sit above the .blend (``//../imgseq/000210.png``): a packer that only looks below the .blend
misses them. The movies are made here too, by rendering flat colours through Blender's FFmpeg
output; the sound is a sine tone written with ``wave``.
"""

from __future__ import annotations

import os
import sys

import bpy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import files_common as c  # noqa: E402

SHOT = "shots/sh010/shot.blend"


def image_movie(root: str) -> None:
    """An image texture of source MOVIE: an H.264 MPEG-4 of three colours, in ``assets/``."""
    shot = os.path.join(root, SHOT)
    movie = c.write_movie(os.path.join(root, "assets/movies/screen.mp4"), [c.CYAN, c.YELLOW, c.RED],
                          container="MPEG4", codec="H264")
    c.new_file(shot)
    image = c.load_image(movie, "//../../assets/movies/screen.mp4", source="MOVIE")
    mat = c.material("Screen", image)
    user = c.texture_node(mat).image_user
    user.frame_start = 1
    user.frame_duration = 3
    user.frame_offset = 0
    c.plane("Screen", mat)
    c.save(shot)
    c.expect(shot, "//../../assets/movies/screen.mp4")


def sequencer_scene(shot: str, frames: int) -> bpy.types.SequenceEditor:
    """A shot that renders its sequencer, not its (empty) 3D scene."""
    scene = c.new_file(shot, frames=frames)
    scene.render.use_sequencer = True
    return scene.sequence_editor_create()


def sequencer_image_sequence(root: str) -> None:
    """An image strip of two numbered images in ``shots/imgseq/``, above the shot's folder."""
    shot = os.path.join(root, SHOT)
    first = c.write_png(os.path.join(root, "shots/imgseq/000210.png"), c.GREEN, size=(c.WIDTH, c.HEIGHT))
    c.write_png(os.path.join(root, "shots/imgseq/000211.png"), c.BLUE, size=(c.WIDTH, c.HEIGHT))
    editor = sequencer_scene(shot, frames=2)
    strip = editor.sequences.new_image("plate", first, channel=1, frame_start=1, fit_method="FIT")
    strip.elements.append("000211.png")
    strip.directory = "//../imgseq/"
    c.save(shot)
    c.expect(shot, "//../imgseq/000210.png", "//../imgseq/000211.png")


def sequencer_movie(root: str) -> None:
    """A movie strip (lossless FFV1 in Matroska) in ``shots/plates/``, above the shot's folder."""
    shot = os.path.join(root, SHOT)
    movie = c.write_movie(os.path.join(root, "shots/plates/plate.mkv"), [c.YELLOW, c.GREEN],
                          container="MKV", codec="FFV1")
    editor = sequencer_scene(shot, frames=1)
    strip = editor.sequences.new_movie("plate", movie, channel=1, frame_start=1, fit_method="FIT")
    strip.filepath = "//../plates/plate.mkv"
    c.save(shot)
    c.expect(shot, "//../plates/plate.mkv")


def sequencer_sound(root: str) -> None:
    """A sound strip (a WAV in ``shots/audio/``, above the shot) under a colour strip: no pixels."""
    shot = os.path.join(root, SHOT)
    wav = c.write_wav(os.path.join(root, "shots/audio/tone.wav"))
    editor = sequencer_scene(shot, frames=1)
    strip = editor.sequences.new_sound("tone", wav, channel=1, frame_start=1)
    strip.sound.filepath = "//../audio/tone.wav"
    colour = editor.sequences.new_effect("slate", "COLOR", channel=2, frame_start=1, frame_end=25)
    colour.color = c.CYAN
    c.save(shot)
    c.expect(shot, "//../audio/tone.wav")


if __name__ == "__main__":
    c.run({f.__name__: f for f in (image_movie, sequencer_image_sequence, sequencer_movie, sequencer_sound)})
