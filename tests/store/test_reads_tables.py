"""The command line's light read path names its own Core tables (store/queries/reads.py,
no SQLModel): each of their columns must be a column of the real table (store/models.py)
with the same type, so a renamed or retyped column fails here, not in a user's terminal."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Integer, String, TypeDecorator
from sqlalchemy.types import TypeEngine
from switchyard.store import models
from switchyard.store.core import UTCDateTime
from switchyard.store.queries import reads


def kind_of(column_type: TypeEngine[object]) -> type:
    """What a value of this column becomes when read: the type that processes it."""
    if isinstance(column_type, UTCDateTime):
        return UTCDateTime
    if isinstance(column_type, TypeDecorator):  # SQLModel's AutoString: a String
        column_type = column_type.impl_instance
    for kind in (JSON, Boolean, Integer, String):
        if isinstance(column_type, kind):
            return kind
    raise AssertionError(f"unexpected column type {column_type!r}")


def test_every_light_column_is_a_model_column_of_the_same_type() -> None:
    real = models.SQLModel.metadata.tables
    assert reads.metadata.tables  # the check sees tables at all
    for name, light in reads.metadata.tables.items():
        assert name in real, f"{name}: no such table in store/models.py"
        for column in light.columns:
            assert column.name in real[name].c, f"{name}.{column.name}: no such column"
            model_type = real[name].c[column.name].type
            assert kind_of(column.type) is kind_of(model_type), (name, column.name, model_type)
            assert column.primary_key == real[name].c[column.name].primary_key, column.name


def test_the_words_are_the_models_words() -> None:
    """store/core.py is where the stored words live; models.py re-exports the same ones."""
    assert models.ACTIVE_STATUSES == ("queued", "running", "waiting")
    assert models.LICENCES == ("direct", "group", "monitor", "designer")
    assert models.UTCDateTime is UTCDateTime
