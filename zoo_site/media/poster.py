"""Which step an entry's posters show: a function of the pixels only, found while the
frames stream past (`PosterPicker`), so no frame is read twice."""

from __future__ import annotations

import numpy as np

#: Poster candidates: this many steps spread evenly over the rollout (and its middle).
POSTER_CANDIDATES = 33
#: A frame whose pixel values spread less than this (standard deviation, 0-255) is blank:
#: a black screen, or one flat colour.
BLANK = 2.0


def content(frames: np.ndarray) -> np.ndarray:
    """How much there is to see in each of (N, H, W, C) frames: the standard deviation of
    its pixel values, 0 for a black or one-colour screen. Vectorised, 256 frames a call."""
    out = np.empty(len(frames), np.float32)
    for start in range(0, len(frames), 256):
        flat = frames[start : start + 256].reshape(min(256, len(frames) - start), -1)
        out[start : start + 256] = flat.astype(np.float32).std(axis=1)
    return out


def poster_step(frames: np.ndarray) -> int:
    """The step every poster of an entry shows (gameplay and atlas): a function of the
    pixels only, so rebuilds pick the same one.

    The middle of the rollout, unless its frame has little to see: of POSTER_CANDIDATES
    steps spread evenly over the rollout, the one nearest the middle whose content (see
    `content`) is at least half the best candidate's. Only when every candidate is blank
    are all steps searched the same way, so the poster is blank only if every frame is.
    """
    picker = PosterPicker(len(frames))
    picker.see(0, frames[picker.candidates], picker.candidates)
    return picker.pick(frames)[0]


class PosterPicker:
    """`poster_step` while the frames stream past: `see` each chunk, then `pick` gives
    the step and its frame. Only the candidates' frames are kept (POSTER_CANDIDATES + 1);
    only if all are blank does `pick` read the frames again."""

    def __init__(self, steps: int):
        self.steps, self.middle = steps, steps // 2
        spread = np.linspace(0, max(steps - 1, 0), POSTER_CANDIDATES).round().astype(np.int64)
        self.candidates = np.union1d(spread, [self.middle]) if steps else np.zeros(0, np.int64)
        self.kept: dict[int, np.ndarray] = {}
        self.scores: dict[int, float] = {}

    def see(self, start: int, chunk: np.ndarray, steps: np.ndarray | None = None) -> None:
        """Frames of steps [start, start + len(chunk)), or of `steps` when given."""
        if steps is None:
            inside = self.candidates[(self.candidates >= start)
                                     & (self.candidates < start + len(chunk))]  # fmt: skip
            picked, steps = chunk[inside - start], inside
        else:
            picked = chunk
        if not len(steps):
            return
        for step, frame, score in zip(steps, picked, content(picked), strict=True):
            self.kept[int(step)], self.scores[int(step)] = frame.copy(), float(score)

    def pick(self, frames) -> tuple[int, np.ndarray]:
        """(the poster's step, its frame); `frames` is read only if every candidate is blank."""
        if self.steps == 0:
            return 0, np.zeros((0,), np.uint8)
        scores = np.array([self.scores[int(c)] for c in self.candidates], np.float32)
        step = _nearest_full(self.candidates, scores, self.middle)
        if step is not None:
            return step, self.kept[step]
        every = np.empty(self.steps, np.float32)
        for start in range(0, self.steps, 256):  # a slice of frames at a time
            every[start : start + 256] = content(frames[start : start + 256])
        step = _nearest_full(np.arange(self.steps), every, self.middle)
        step = self.middle if step is None else step
        return step, self.kept[step] if step in self.kept else np.asarray(frames[step])


def _nearest_full(steps: np.ndarray, scores: np.ndarray, middle: int) -> int | None:
    """Of `steps` (ascending), the nearest to `middle` (the earlier on a tie) whose score
    is at least half the best; None when all are blank."""
    best = float(scores.max())
    if best < BLANK:
        return None
    full = steps[scores >= max(BLANK, best / 2)]
    return int(full[np.argmin(np.abs(full - middle))])
