"""Bounded field types for request Structs, so a value PostgreSQL cannot hold is refused by msgspec
with the field's name (400 `invalid_value`) instead of reaching the database.

Ids are `integer` (int4) columns; texts must carry no NUL character, which PostgreSQL's text
types cannot store.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["DbId", "NO_NUL", "Name", "Password", "ShortText", "Username"]

# A serial id: what an `integer` column holds, and never 0 or negative.
DbId = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
NO_NUL = r"^[^\x00]*$"
# Lengths of the `varchar` columns these values go into.
ShortText = Annotated[str, msgspec.Meta(max_length=32, pattern=NO_NUL)]
Name = Annotated[str, msgspec.Meta(max_length=100, pattern=NO_NUL)]
Username = Annotated[str, msgspec.Meta(max_length=64, pattern=NO_NUL)]
# Long enough for any passphrase, short enough that hashing it is not a denial of service.
Password = Annotated[str, msgspec.Meta(max_length=1024)]
