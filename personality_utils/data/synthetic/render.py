"""Drawing one synthetic frame: the room with its poster, and a person from 68 posed landmarks
(face, hair, eyes, brows, nose, lips, glasses, shirt) with shading.

:mod:`~personality_utils.data.synthetic.generator` renders its clips with it; nothing here knows
how labels are made.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from personality_utils.core.planted import AU_IDS
from personality_utils.data.synthetic.recipes import frame_intensities
from personality_utils.faces.facs import MEAN_SHAPE, deform

if TYPE_CHECKING:
    from personality_utils.data.synthetic.recipes import ClipRecipe

__all__ = ["face_box", "identity_shape", "pose", "render_frame", "scene"]


def identity_shape(modes: tuple[float, float, float, float]) -> np.ndarray:
    """The mean shape with four smooth identity modes: face width, face length, nose length,
    mouth width (each about ±6%)."""
    shape = MEAN_SHAPE.copy()
    width, length, nose, mouth = modes
    shape[0:17, 0] *= 1 + 0.06 * width
    shape[0:17, 1] = np.where(
        shape[0:17, 1] > 0, shape[0:17, 1] * (1 + 0.06 * length), shape[0:17, 1]
    )
    shape[30:36, 1] *= 1 + 0.06 * nose
    shape[48:68, 0] *= 1 + 0.06 * mouth
    return shape


def pose(shape: np.ndarray, inter_ocular: float, centre, roll_degrees: float) -> np.ndarray:
    angle = math.radians(roll_degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return shape @ rotation.T * inter_ocular + np.asarray(centre)


def scene(recipe: ClipRecipe) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The room behind the person (static over the clip) and the poster's box."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(recipe.scene_seed)
    width, height = recipe.width, recipe.height
    wall = np.array(recipe.wall, dtype=np.float64)
    shade = (
        np.linspace(0.85, 1.1, width)[None, :, None] * np.linspace(1.05, 0.9, height)[:, None, None]
    )
    image = np.clip(wall[None, None] * shade, 0, 255).astype(np.uint8)
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    floor = int(height * rng.uniform(0.72, 0.85))
    draw.rectangle([0, floor, width, height], fill=tuple(int(v) for v in rng.integers(40, 140, 3)))
    for _ in range(int(rng.integers(2, 5))):  # furniture, shelves, a door: muted colours
        x0 = rng.uniform(-0.1, 0.9) * width
        y0 = rng.uniform(0.05, 0.7) * height
        w = rng.uniform(0.08, 0.3) * width
        h = rng.uniform(0.1, 0.5) * height
        colour = tuple(
            int(v) for v in np.clip(wall * rng.uniform(0.5, 0.9) + rng.integers(-20, 20, 3), 0, 255)
        )
        draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        for shelf in range(int(rng.integers(0, 4))):
            y = y0 + (shelf + 1) * h / 4
            draw.line([x0, y, x0 + w, y], fill=tuple(int(c * 0.7) for c in colour), width=2)
    if rng.random() < 0.5:  # a window
        x0 = rng.uniform(0.0, 0.8) * width
        draw.rectangle(
            [x0, 0.1 * height, x0 + 0.16 * width, 0.45 * height],
            fill=(200, 225, 245),
            outline=(235, 235, 235),
            width=4,
        )
    # The context cue: a poster whose size and colourfulness grow with the cue's strength.
    cue = recipe.context_cue
    side = 0.22 * (0.6 + 0.8 * cue) * height
    face_x = recipe.centre[0]
    margin = 2.0 * recipe.inter_ocular
    if recipe.poster_side < 0:
        x0 = max(0.03 * width, face_x - margin - side - rng.uniform(0, 0.1) * width)
    else:
        x0 = min(0.97 * width - side, face_x + margin + rng.uniform(0, 0.1) * width)
    y0 = rng.uniform(0.08, 0.25) * height
    box = (x0, y0, x0 + side, y0 + side * 1.3)
    grey = np.array([150, 150, 150])
    for stripe in range(4):
        hue_colour = np.array([(255, 40, 40), (255, 200, 0), (30, 160, 255), (40, 200, 80)][stripe])
        colour = tuple(int(v) for v in grey + cue * (hue_colour - grey))
        top = y0 + stripe * side * 1.3 / 4
        draw.rectangle([x0, top, x0 + side, top + side * 1.3 / 4], fill=colour)
    draw.rectangle(box, outline=(60, 50, 40), width=3)
    # The torso, still while the head moves a little above it.
    iod = recipe.inter_ocular
    chin_x, chin_y = recipe.centre[0], recipe.centre[1] + 1.85 * iod
    shoulders_y = chin_y + 0.9 * iod
    draw.ellipse(
        [chin_x - 2.6 * iod, shoulders_y, chin_x + 2.6 * iod, shoulders_y + 4.5 * iod],
        fill=tuple(recipe.shirt),
    )
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=0.8))
    return np.asarray(canvas).copy(), box


def _forehead(points: np.ndarray, inter_ocular_px: float, up: np.ndarray) -> np.ndarray:
    """An arc over the brows closing the jaw polygon into a head outline."""
    left, right = points[0], points[16]
    middle = (left + right) / 2
    radius_x = np.linalg.norm(right - left) / 2
    across = (right - left) / (2 * radius_x)
    height = 1.05 * inter_ocular_px
    angles = np.linspace(0, np.pi, 15)
    return np.array(
        [middle + math.cos(a) * radius_x * across + math.sin(a) * height * up for a in angles]
    )


def render_frame(
    recipe: ClipRecipe,
    background: np.ndarray,
    landmarks: np.ndarray,
    intensities: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw one frame: the person over ``background`` with the given posed landmarks.

    Returns:
        uint8 RGB array (height, width, 3).
    """
    from PIL import Image, ImageDraw, ImageFilter

    au = dict(zip(AU_IDS, intensities, strict=True))
    iod = recipe.inter_ocular
    # Draw only in a window around the head (the torso is part of the static scene).
    x0 = int(max(0, np.floor(landmarks[:, 0].min() - 1.0 * iod)))
    x1 = int(min(recipe.width, np.ceil(landmarks[:, 0].max() + 1.0 * iod)))
    y0 = int(max(0, np.floor(landmarks[:, 1].min() - 1.6 * iod)))
    y1 = int(min(recipe.height, np.ceil(landmarks[:, 1].max() + 1.7 * iod)))
    landmarks = np.asarray(landmarks, dtype=np.float64) - (x0, y0)
    right_eye = landmarks[36:42].mean(axis=0)
    left_eye = landmarks[42:48].mean(axis=0)
    across = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)
    up = np.array([across[1], -across[0]])  # perpendicular, towards the forehead
    skin = np.array(recipe.skin, dtype=np.float64)
    hair = tuple(recipe.hair)
    canvas = Image.fromarray(np.ascontiguousarray(background[y0:y1, x0:x1]))
    draw = ImageDraw.Draw(canvas)

    def xy(points) -> list[tuple[float, float]]:
        return [tuple(map(float, p)) for p in np.atleast_2d(points)]

    neck = [
        landmarks[5] + (0.1 * iod, 0),
        landmarks[11] - (0.1 * iod, 0),
        landmarks[11] + (-0.1 * iod, 1.5 * iod),
        landmarks[5] + (0.1 * iod, 1.5 * iod),
    ]
    draw.polygon(xy(neck), fill=tuple(int(v) for v in skin * 0.8))
    forehead = _forehead(landmarks, iod, up)
    # Long hair falls behind the head.
    if recipe.hair_long:
        top = forehead[7] + 0.25 * iod * up
        back = [
            landmarks[0] - 0.35 * iod * across,
            top,
            landmarks[16] + 0.35 * iod * across,
            landmarks[13] + 0.5 * iod * across - 1.6 * iod * up,
            landmarks[3] - 0.5 * iod * across - 1.6 * iod * up,
        ]
        draw.polygon(xy(back), fill=hair)
    # Ears.
    for side, index in ((-1, 1), (1, 15)):
        centre = landmarks[index] + side * 0.08 * iod * across
        draw.ellipse(
            [
                centre[0] - 0.17 * iod,
                centre[1] - 0.3 * iod,
                centre[0] + 0.17 * iod,
                centre[1] + 0.3 * iod,
            ],
            fill=tuple(int(v) for v in skin * 0.9),
        )
    # Head: jaw polygon closed by the forehead arc, shaded by a directional light.
    head = np.concatenate([landmarks[0:17], forehead[1:-1]])
    mask = Image.new("L", canvas.size, 0)
    ImageDraw.Draw(mask).polygon(xy(head), fill=255)
    # The polygon mask is 0 or 255 (no antialiasing), so the shaded skin replaces the pixels
    # inside it and only those are computed (a third of the time of blending the whole window,
    # with the same arithmetic per pixel, so the frames are the same to the bit).
    frame = np.array(canvas)
    inside = np.asarray(mask) > 0
    rows, columns = (index.astype(np.float32) for index in np.nonzero(inside))
    centre = landmarks[27:31].mean(axis=0)
    dx = (columns - centre[0]) / (1.5 * iod)
    dy = (rows - centre[1]) / (2.0 * iod)
    light = 1.0 + 0.18 * (recipe.light[0] * dx + recipe.light[1] * dy) - 0.12 * (dx**2 + dy**2)
    skin_layer = skin[None, :] * np.clip(light, 0.55, 1.25)[:, None]
    frame[inside] = np.clip(skin_layer, 0, 255).astype(np.uint8)
    canvas = Image.fromarray(frame)
    draw = ImageDraw.Draw(canvas)
    # Hair on top of the head, with a fringe.
    hair_line = [forehead[0] + 0.05 * iod * up]
    hair_line += [p - (0.28 * iod * up if 4 <= k <= 10 else 0) for k, p in enumerate(forehead)]
    hair_line += [forehead[-1] + 0.05 * iod * up]
    hair_cap = list(forehead) + [forehead[-1] + 0.25 * iod * up]
    hair_cap += [p + 0.25 * iod * up for p in forehead[::-1]]
    draw.polygon(xy(hair_cap), fill=hair)
    draw.polygon(xy(np.concatenate([forehead, np.array(hair_line)[::-1]])), fill=hair)
    # Cheek raiser (AU6) flushes the cheeks; the dimpler (AU14) marks the mouth corners.
    cheek = tuple(int(v) for v in np.clip(skin * (1 - 0.03 * au[6]) + [12 * au[6], 0, 0], 0, 255))
    for index in (2, 14):
        point = 0.55 * landmarks[index] + 0.45 * landmarks[30]
        radius = 0.28 * iod
        draw.ellipse(
            [point[0] - radius, point[1] - radius, point[0] + radius, point[1] + radius],
            fill=cheek,
        )
    dark_skin = tuple(int(v) for v in skin * 0.62)
    if au[14] > 0.5:
        for index, side in ((48, -1), (54, 1)):
            point = landmarks[index] + side * 0.12 * iod * across
            draw.line(
                xy([point - 0.1 * iod * up, point + 0.1 * iod * up]),
                fill=dark_skin,
                width=max(1, int(0.02 * iod * au[14])),
            )
    # Eye sockets are darker than the cheeks: the strongest cue of a face for a HOG detector,
    # and the one that dark skin loses first without it.
    socket = tuple(int(v) for v in skin * 0.78)
    for eye_centre in (right_eye, left_eye):
        centre = eye_centre - 0.06 * iod * up
        radius_x, radius_y = 0.3 * iod, 0.17 * iod
        draw.ellipse(
            [
                centre[0] - radius_x,
                centre[1] - radius_y,
                centre[0] + radius_x,
                centre[1] + radius_y,
            ],
            fill=socket,
        )
    # Eyebrows: thick polylines.
    brow_width = max(2, round(0.09 * iod))
    # Brows darker than the hair (fair hair on dark skin would otherwise leave no brows).
    brow_colour = tuple(int(v * 0.5) for v in hair)
    for start in (17, 22):
        draw.line(
            xy(landmarks[start : start + 5]), fill=brow_colour, width=brow_width, joint="curve"
        )
    # AU9 wrinkles the nose bridge.
    if au[9] > 0.5:
        for offset in (-0.06, 0.06):
            point = landmarks[28] + offset * iod * up
            draw.line(
                xy([point - 0.1 * iod * across, point + 0.1 * iod * across]),
                fill=dark_skin,
                width=max(1, int(0.015 * iod * au[9])),
            )
    # Eyes: white, iris clipped to the lids, lash line.
    for start, eye_centre in ((36, right_eye), (42, left_eye)):
        outline = landmarks[start : start + 6]
        eye_mask = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(eye_mask).polygon(xy(outline), fill=255)
        eye_layer = Image.new("RGB", canvas.size, (240, 240, 236))
        eye_draw = ImageDraw.Draw(eye_layer)
        radius = 0.11 * iod
        eye_draw.ellipse(
            [
                eye_centre[0] - radius,
                eye_centre[1] - radius,
                eye_centre[0] + radius,
                eye_centre[1] + radius,
            ],
            fill=tuple(recipe.iris),
        )
        radius *= 0.45
        eye_draw.ellipse(
            [
                eye_centre[0] - radius,
                eye_centre[1] - radius,
                eye_centre[0] + radius,
                eye_centre[1] + radius,
            ],
            fill=(10, 10, 10),
        )
        canvas.paste(eye_layer, (0, 0), eye_mask)
        draw.line(
            xy(np.concatenate([outline[0:4]])),
            fill=(30, 25, 20),
            width=max(2, int(0.04 * iod)),
            joint="curve",
        )
        draw.line(
            xy(np.concatenate([outline[3:6], outline[0:1]])),
            fill=dark_skin,
            width=max(1, int(0.02 * iod)),
        )
    # Nose: bridge shading, nostrils.
    draw.line(
        xy(landmarks[27:31] + 0.05 * iod * across),
        fill=tuple(int(v) for v in skin * 0.85),
        width=max(1, int(0.03 * iod)),
    )
    draw.line(xy(landmarks[31:36]), fill=dark_skin, width=max(2, int(0.035 * iod)), joint="curve")
    for index in (32, 34):
        point = landmarks[index] - 0.02 * iod * up
        radius = 0.035 * iod
        draw.ellipse(
            [point[0] - radius, point[1] - radius, point[0] + radius, point[1] + radius],
            fill=tuple(int(v) for v in skin * 0.45),
        )
    # Mouth: lips, then the opening with teeth when the lips part.
    draw.polygon(xy(landmarks[48:60]), fill=tuple(recipe.lips))
    inner = landmarks[60:68]
    opening = np.linalg.norm(inner[6] - inner[2])
    if opening > 0.012 * iod:
        draw.polygon(xy(inner), fill=(60, 20, 25))
        teeth_mask = Image.new("L", canvas.size, 0)
        ImageDraw.Draw(teeth_mask).polygon(xy(inner), fill=255)
        teeth = Image.new("L", canvas.size, 0)
        top = inner[2]
        ImageDraw.Draw(teeth).rectangle(
            [inner[0][0], top[1] - iod, inner[4][0], top[1] + 0.5 * opening], fill=255
        )
        combined = Image.fromarray(np.minimum(np.asarray(teeth_mask), np.asarray(teeth)))
        canvas.paste((235, 232, 220), (0, 0), combined)
    draw.line(
        xy([landmarks[60], *inner[1:4], landmarks[64]]),
        fill=tuple(int(v * 0.6) for v in recipe.lips),
        width=max(1, int(0.02 * iod)),
    )
    # Glasses: two round frames and a bridge.
    if recipe.glasses:
        frame_width = max(2, round(0.05 * iod))
        for eye_centre in (right_eye, left_eye):
            radius_x, radius_y = 0.32 * iod, 0.24 * iod
            draw.ellipse(
                [
                    eye_centre[0] - radius_x,
                    eye_centre[1] - radius_y,
                    eye_centre[0] + radius_x,
                    eye_centre[1] + radius_y,
                ],
                outline=(20, 20, 25),
                width=frame_width,
            )
        draw.line(
            xy([right_eye + 0.32 * iod * across, left_eye - 0.32 * iod * across]),
            fill=(20, 20, 25),
            width=frame_width,
        )
        for eye_centre, side in ((right_eye, -1), (left_eye, 1)):
            start = eye_centre + side * 0.32 * iod * across
            draw.line(
                xy([start, start + side * 0.5 * iod * across]),
                fill=(20, 20, 25),
                width=frame_width,
            )
    canvas = canvas.filter(ImageFilter.GaussianBlur(radius=0.8))
    image = background.copy()
    image[y0:y1, x0:x1] = np.asarray(canvas)
    noise = rng.integers(-4, 5, image.shape, dtype=np.int8)  # sensor noise
    return np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def face_box(landmarks: np.ndarray) -> np.ndarray:
    """Ground-truth face box (left, top, right, bottom): the landmarks' extent, raised to cover
    the forehead as dlib's boxes do."""
    left, top = landmarks.min(axis=-2).T if landmarks.ndim == 3 else landmarks.min(axis=0)
    right, bottom = landmarks.max(axis=-2).T if landmarks.ndim == 3 else landmarks.max(axis=0)
    return np.stack([left, top - 0.15 * (bottom - top), right, bottom], axis=-1)


def clip_landmarks(recipe: ClipRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ground truth: posed landmarks (n, 68, 2) in frame pixels and AU intensities."""
    rng = np.random.default_rng(recipe.seed + 2)
    intensities = frame_intensities(recipe)
    base = identity_shape(recipe.shape_modes)
    n = recipe.n_frames
    # Small head motion: a random walk in position and roll.
    shift = np.cumsum(rng.normal(0, 0.01 * recipe.inter_ocular, (n, 2)), axis=0)
    roll = recipe.roll + np.cumsum(rng.normal(0, 0.25, n))
    landmarks = np.stack(
        [
            pose(
                deform(base, intensities[t]),
                recipe.inter_ocular,
                np.asarray(recipe.centre) + shift[t],
                roll[t],
            )
            for t in range(n)
        ]
    )
    return landmarks.astype(np.float32), intensities.astype(np.float32)
