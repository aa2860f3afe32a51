"""The ``saved_scenarios`` table: scenarios people define on a model, one row per version.

Rows are never changed: saving a scenario again adds its next version, and archiving it adds
a version marked ``archived`` (a tombstone carrying the last overrides), so every run that
named ``NAME@vN`` can be traced to exactly the overrides it ran with, and who wrote them when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from caretwin.store.models import Base, utcnow

__all__ = ["SavedScenario"]


class SavedScenario(Base):
    __tablename__ = "saved_scenarios"
    __table_args__ = (
        Index("ux_saved_scenarios_name_version", "name", "version", unique=True),
        Index("ix_saved_scenarios_model", "model"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    #: The model the overrides apply to: an example's name or a workspace model's key.
    model: Mapped[str] = mapped_column(String(200))
    #: The twin definition's own name and content hash when the version was saved.
    model_name: Mapped[str] = mapped_column(String(200))
    model_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
