"""Pictures kept in the store (a story's cover an admin sent from the phone): WeChat's PicUrl
of an image message is temporary, so the bytes are kept here, where every host of the bot finds
them, and the bot serves them at its own address."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from store.db import Store, now_iso

MAX_BYTES = 5_000_000  # a phone photo WeChat hands on is well under this


@dataclass
class Image:
    id: int
    article_id: int | None
    content_type: str
    data: bytes
    sha256: str


_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
          (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def picture_type(data: bytes) -> str:
    """The type of picture ``data`` is, by its first bytes (what a server says is not trusted:
    the bot serves these bytes under its own name); "" when it is none the bot keeps."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return ""


class NotAPicture(ValueError):
    """The bytes are not a JPEG, PNG, GIF or WebP picture, or too large."""


def add(store: Store, article_id: int, data: bytes) -> int:
    """Keep a picture of story ``article_id``; its id. The same bytes are kept once a story."""
    content_type = picture_type(data)
    if not content_type:
        raise NotAPicture("not a JPEG, PNG, GIF or WebP picture")
    if len(data) > MAX_BYTES:
        raise NotAPicture(f"larger than {MAX_BYTES // 1_000_000} MB")
    digest = hashlib.sha256(data).hexdigest()
    with store.transaction():
        row = store.db.execute(
            "SELECT id FROM images WHERE sha256 = ? AND article_id = ?", (digest, article_id)
        ).fetchone()
        if row:
            return int(row[0])
        cur = store.db.execute(
            "INSERT INTO images (article_id, content_type, data, sha256, added_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (article_id, content_type, data, digest, now_iso()),
        )
        return int(cur.fetchone()[0])


def get(store: Store, image_id: int) -> Image | None:
    row = store.db.execute(
        "SELECT id, article_id, content_type, data, sha256 FROM images WHERE id = ?", (image_id,)
    ).fetchone()
    return Image(int(row[0]), row[1], row[2], bytes(row[3]), row[4]) if row else None
